//! Serving the application on a TCP listener: HTTP/1.1 with a request head buffer of a
//! known size, and a graceful stop.
//!
//! `axum::serve` builds each connection with hyper's defaults, whose request head buffer
//! (about 400 KiB) answers a larger head itself, with an empty 431, before the application
//! sees the request. This loop serves as `axum::serve` does (one task per connection,
//! upgrades, the same graceful stop) but with a head buffer of [`HEAD_BUFFER`], so that any
//! head up to that size reaches the application, whose `mailplane_http::headers` middleware
//! answers a problem document for header fields over its own, smaller limit. Only a head
//! larger than [`HEAD_BUFFER`] still gets hyper's empty 431, and its connection is closed:
//! the request cannot be read, so there is nothing to answer it with.
//!
//! This applies to HTTP/1.1, the protocol the API is served with. A client speaking HTTP/2
//! with prior knowledge (plaintext) is served by the same builder, as under `axum::serve`,
//! with hyper's HTTP/2 limits unchanged: a header list over 16 KiB gets hyper's own 431.
//!
//! The buffer grows with what a connection sends, up to the cap, and is the one hyper
//! also reads bodies through, so the cap is also the most a connection holds in it. A
//! connection must send its whole head within [`HEAD_READ_TIMEOUT`] (hyper's timer, which
//! `axum::serve` leaves unset): a client that trickles a head in, to hold buffers open, is
//! disconnected. More than 100 header fields are refused by hyper (an empty 431) too.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// The largest request head (request line and header fields) a connection reads: 2 MiB.
pub const HEAD_BUFFER: usize = 2 * 1024 * 1024;

/// How long a connection may take to send a request head once it has begun one.
pub const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `stop` resolves, then stops accepting connections,
/// lets every request in flight finish (connections that are idle are closed) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Each connection holds a receiver of `closing` until it is done; the loop waits for
    // all of them after the stop. `stopped` closes when `stop` resolves.
    let (stopped_tx, stopped_rx) = watch::channel(());
    tokio::spawn(async move {
        stop.await;
        drop(stopped_rx);
    });
    let (closing_tx, closing_rx) = watch::channel(());
    loop {
        let (stream, _remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = stopped_tx.closed() => break,
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|request: Request<Incoming>| request.map(Body::new)),
        );
        let stopped = stopped_tx.clone();
        let closing = closing_rx.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .max_buf_size(HEAD_BUFFER)
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_READ_TIMEOUT);
            let mut connection =
                pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
            let mut stop_seen = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(error = %e, "a connection ended with an error");
                        }
                        break;
                    }
                    _ = stopped.closed(), if !stop_seen => {
                        // Finish the request in flight, if any, then close.
                        stop_seen = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(closing);
        });
    }
    drop(closing_rx);
    drop(listener);
    closing_tx.closed().await;
    Ok(())
}

/// What `axum::serve` does with an error of `accept`: a connection that failed before it
/// was accepted is skipped; anything else (out of file descriptors, say) is logged, and the
/// loop waits a second before it accepts again.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
