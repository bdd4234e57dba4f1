//! Change notifications: every committed write on the PostgreSQL store
//! sends `NOTIFY hashsieve_changes` (in its transaction, so only commits
//! are announced); a server `LISTEN`s on its own connection and reads the
//! change log as soon as one arrives, instead of at its next poll.
//!
//! A notification carries nothing but "look now": the change log is the
//! truth, so a notification lost with a connection costs nothing as long
//! as the caller, once it has connected again, reads the log from its
//! cursor.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::schema::CHANNEL;
use crate::error::StoreError;
use crate::store::OpenOptions;

/// Why [`Listener::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Someone committed a change.
    Changed,
    /// Nothing within the timeout.
    Timeout,
}

/// A connection that listens for change notifications.
pub struct Listener {
    client: Client,
}

impl Listener {
    /// Connect to `url` and listen.
    ///
    /// # Errors
    /// The server cannot be reached or refuses.
    pub fn connect(url: &str, opts: &OpenOptions) -> Result<Listener, StoreError> {
        let mut client = super::connect(url, opts).map_err(|e| match e {
            super::ConnectError::Pg(e) => StoreError::from(e),
            // The store opened this same URL first, so its TLS options
            // were read once already; this is a file changed since.
            super::ConnectError::Tls(e) => StoreError::Invalid {
                field: "--db TLS options",
                message: e.to_string(),
            },
        })?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(Listener { client })
    }

    /// Wait up to `timeout` for a notification; several queued ones count
    /// as one.
    ///
    /// # Errors
    /// The connection was lost: drop this listener, connect again, and read
    /// the change log (what was announced meanwhile is in it).
    pub fn wait(&mut self, timeout: Duration) -> Result<Wake, StoreError> {
        let mut n = self.client.notifications();
        let got = n.timeout_iter(timeout).next()?;
        if got.is_none() {
            // A dead connection is only noticed by using it.
            drop(n);
            self.client.is_valid(Duration::from_secs(5))?;
            return Ok(Wake::Timeout);
        }
        // Drain what else is queued (one look covers them all).
        let mut rest = n.iter();
        while rest.next()?.is_some() {}
        Ok(Wake::Changed)
    }
}
