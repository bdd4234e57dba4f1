//! Readers that enforce the expansion limits while data is decompressed.
//!
//! A declared size can lie; the bytes actually produced cannot. So the
//! ratio and the budget are checked on every read, and the first read past
//! a limit fails. The reason is left in a shared slot (`tripped`), because
//! format crates wrap our I/O error in their own and the cause would be
//! lost otherwise.

use super::{limit, Budget};
use crate::error::ItemError;
use std::cell::Cell;
use std::io::{self, Read};

/// Counts the compressed bytes a decompressor pulls from its input.
pub struct Counting<'a, R> {
    pub inner: R,
    pub count: &'a Cell<u64>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Where the compressed size of the data under a guard comes from.
pub enum Compressed<'a> {
    /// Known up front (a zip member's compressed size).
    Fixed(u64),
    /// Counted as the decompressor reads (a compressed tar stream).
    Counted(&'a Cell<u64>),
    /// Not compressed: no ratio check.
    None,
}

/// Fails the read that takes the data past the ratio or the budget.
pub struct Guard<'a, R> {
    pub inner: R,
    pub out: u64,
    pub compressed: Compressed<'a>,
    pub max_ratio: u64,
    pub floor: u64,
    pub budget: &'a Budget,
    pub tripped: &'a Cell<Option<ItemError>>,
    /// What is being read, for the message ("member", "stream").
    pub what: &'static str,
}

impl<R: Read> Read for Guard<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let compressed = match self.compressed {
            Compressed::Fixed(c) => Some(c),
            Compressed::Counted(c) => Some(c.get()),
            Compressed::None => None,
        };
        if let Some(c) = compressed {
            if self.out > self.floor && self.out > self.max_ratio.saturating_mul(c.max(1)) {
                return Err(self.trip(limit(format!(
                    "{} expands more than {}x (over {} bytes from {} compressed bytes): refused as a possible zip bomb",
                    self.what, self.max_ratio, self.out, c
                ))));
            }
        }
        if !self.budget.take(n as u64) {
            return Err(self.trip(limit(format!(
                "archive expands past the total limit of decompressed bytes (while reading a {})",
                self.what
            ))));
        }
        Ok(n)
    }
}

impl<R> Guard<'_, R> {
    fn trip(&self, e: ItemError) -> io::Error {
        let msg = e.message.clone();
        self.tripped.set(Some(e));
        io::Error::other(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::ArchiveLimits;
    use crate::error::ErrorKind;

    #[test]
    fn ratio_trips_only_past_the_floor() {
        let limits = ArchiveLimits {
            max_total_bytes: 1 << 30,
            ..Default::default()
        };
        let budget = Budget::new(&limits);
        let tripped = Cell::new(None);
        let data = vec![0u8; 3000];
        let mut g = Guard {
            inner: &data[..],
            out: 0,
            compressed: Compressed::Fixed(10),
            max_ratio: 100,
            floor: 2000,
            budget: &budget,
            tripped: &tripped,
            what: "member",
        };
        let mut sink = Vec::new();
        let err = g.read_to_end(&mut sink).unwrap_err();
        assert!(err.to_string().contains("expands more than 100x"));
        assert_eq!(tripped.take().map(|e| e.kind), Some(ErrorKind::Limit));
        // Under the floor nothing trips, whatever the ratio.
        let mut g = Guard {
            inner: &data[..1500],
            out: 0,
            compressed: Compressed::Fixed(1),
            max_ratio: 100,
            floor: 2000,
            budget: &budget,
            tripped: &tripped,
            what: "member",
        };
        sink.clear();
        assert_eq!(g.read_to_end(&mut sink).unwrap(), 1500);
    }

    #[test]
    fn budget_is_shared_and_runs_out() {
        let limits = ArchiveLimits {
            max_total_bytes: 1000,
            ..Default::default()
        };
        let budget = Budget::new(&limits);
        let tripped = Cell::new(None);
        let data = vec![1u8; 600];
        for round in 0..2 {
            let mut g = Guard {
                inner: &data[..],
                out: 0,
                compressed: Compressed::None,
                max_ratio: 100,
                floor: 0,
                budget: &budget,
                tripped: &tripped,
                what: "member",
            };
            let r = g.read_to_end(&mut Vec::new());
            assert_eq!(r.is_err(), round == 1);
        }
    }
}
