//! Accepting connections: our own loop over hyper's HTTP/1 connection, so
//! that every connection is bounded in number, in how long a client may
//! take to send a request head (also the idle time between keep-alive
//! requests), and in how long it may hold a graceful shutdown.
//!
//! Why not `axum::serve`: it sets no header read timeout and no connection
//! cap. The probe kept 1,000 connections open by dribbling headers, and one
//! half-sent request held graceful shutdown for 200 s.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::metrics::Metrics;

/// The bounds of [`serve_connections`].
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Time to send a request head, and to start the next one on a
    /// kept-alive connection.
    pub header_timeout: Duration,
    /// After a shutdown signal: how long requests in flight may take to
    /// finish before their connections are dropped.
    pub shutdown_grace: Duration,
}

/// Serve `app` on `listener` until `shutdown` completes, then stop
/// accepting, let requests in flight finish (at most
/// `limits.shutdown_grace`) and return.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        // Reap finished connections so the set stays small.
        while conns.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(_) => {
                // Out of file descriptors or a connection reset before we
                // took it: wait a little instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.changed() => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.shutdown_grace, conn).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
}
