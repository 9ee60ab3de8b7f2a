//! A server on loopback for outbound HTTP from guests of other toolchains: `GET /hello`
//! answers "hello from the test server" and counts the requests that reached it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;

/// Start the server: its port, and how many requests reached it.
pub(crate) async fn hello_server() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().route(
        "/hello",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { "hello from the test server" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port on loopback");
    let port = listener.local_addr().expect("an address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}
