//! Notices between nodes sharing a PostgreSQL database (LISTEN/NOTIFY): a component
//! changed, an execution finished, an execution became due, a key was revoked. They are the fast path only:
//! a notice can be lost (a dropped connection), so every consumer also looks again on a
//! timer. SQLite has one process, which needs none.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::broadcast;

use super::{StoreError, db};

/// Payload: the tenant whose components changed.
pub(super) const COMPONENTS_CHANNEL: &str = "tsdev_components";
/// Payload: the id of an execution that finished.
pub(super) const EXECUTIONS_CHANNEL: &str = "tsdev_executions";
/// Payload: the id of an execution that became due (a signal came, a lease was handed back).
pub(super) const WAKE_CHANNEL: &str = "tsdev_wake";

/// Payload: the tenant whose key was revoked, or that was deleted with its keys.
pub(super) const KEYS_CHANNEL: &str = "tsdev_keys";

/// Notices kept for a receiver that falls behind; past it, the receiver is told it lagged.
const BACKLOG: usize = 1024;
/// How long to wait before listening again after the listening connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What another node (or this one) has just done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A tenant's components changed (deploy, redeploy, delete).
    ComponentsChanged(String),
    /// An execution finished.
    ExecutionFinished(String),
    /// An execution became due.
    Due(String),
    /// A key was revoked or deleted: remembered keys must be read again.
    KeysChanged,
    /// Notices may have been missed (the listening connection dropped): look again at
    /// everything.
    Missed,
}

/// Send `payload` on `channel` when the current transaction commits (at once outside one).
pub(super) async fn notify(
    conn: &mut AnyConnection,
    channel: &str,
    payload: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(conn)
        .await
        .map_err(db("sending a notice"))?;
    Ok(())
}

/// Listen on every channel of `url`'s database, handing what arrives to the returned
/// sender's receivers, for as long as the sender lives.
pub(super) fn listen(url: String) -> Arc<broadcast::Sender<Notice>> {
    let (sender, _) = broadcast::channel(BACKLOG);
    let sender = Arc::new(sender);
    tokio::spawn(forward(url, Arc::downgrade(&sender)));
    sender
}

async fn forward(url: String, sender: Weak<broadcast::Sender<Notice>>) {
    loop {
        match listen_once(&url, &sender).await {
            Ok(()) => return,
            Err(e) => {
                let Some(strong) = sender.upgrade() else {
                    return;
                };
                tracing::warn!("listening for notices from other nodes: {e}");
                let _ = strong.send(Notice::Missed);
                drop(strong);
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        }
    }
}

/// Forward notices until the sender is gone (Ok) or the connection fails (Err).
async fn listen_once(
    url: &str,
    sender: &Weak<broadcast::Sender<Notice>>,
) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener
        .listen_all([
            COMPONENTS_CHANNEL,
            EXECUTIONS_CHANNEL,
            WAKE_CHANNEL,
            KEYS_CHANNEL,
        ])
        .await?;
    // What happened before the listener was up was not heard.
    if let Some(strong) = sender.upgrade() {
        let _ = strong.send(Notice::Missed);
    }
    loop {
        // A timeout now and then, so that a store dropped while nothing is said is noticed.
        let received = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
        let Some(strong) = sender.upgrade() else {
            return Ok(());
        };
        let notification = match received {
            Err(_elapsed) => continue,
            Ok(Ok(Some(notification))) => notification,
            // The connection dropped; PgListener reconnects on the next call.
            Ok(Ok(None)) => {
                let _ = strong.send(Notice::Missed);
                continue;
            }
            Ok(Err(e)) => return Err(e),
        };
        let payload = notification.payload().to_string();
        let notice = match notification.channel() {
            COMPONENTS_CHANNEL => Notice::ComponentsChanged(payload),
            EXECUTIONS_CHANNEL => Notice::ExecutionFinished(payload),
            WAKE_CHANNEL => Notice::Due(payload),
            KEYS_CHANNEL => Notice::KeysChanged,
            _ => continue,
        };
        let _ = strong.send(notice);
    }
}
