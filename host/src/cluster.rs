//! What keeps a node in step with the other nodes sharing its PostgreSQL database:
//!
//! - its registries follow the stored components ([`Host::sync_from_store`]) on every
//!   notice that a tenant's components changed, and every [`COMPONENT_CHECK`] in case a
//!   notice was lost;
//! - its clock follows the database's (see [`crate::clock`]), read every
//!   [`DATABASE_CLOCK_CHECK`].
//!
//! On SQLite the one process is the whole cluster: nothing to follow.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::clock::{self, DATABASE_CLOCK_CHECK};
use crate::host::Host;
use crate::store::Notice;

/// How often a node compares its registries with the store when no notice came.
pub(crate) const COMPONENT_CHECK: Duration = Duration::from_secs(1);

/// Read the database's clock once now (so that nothing is judged by a skewed clock
/// before the first reading), then follow it and the stored components in the background
/// for as long as `host` lives.
pub(crate) async fn follow(host: &Arc<Host>) {
    let Some(mut notices) = host.store().notices() else {
        return;
    };
    read_database_clock(host).await;
    let weak = Arc::downgrade(host);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(DATABASE_CLOCK_CHECK).await;
            let Some(host) = weak.upgrade() else { return };
            read_database_clock(&host).await;
        }
    });
    let weak: Weak<Host> = Arc::downgrade(host);
    tokio::spawn(async move {
        loop {
            let only = match tokio::time::timeout(COMPONENT_CHECK, notices.recv()).await {
                Ok(Ok(Notice::ComponentsChanged(tenant))) => Some(tenant),
                Ok(Ok(_)) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
                // Lagged, or nothing heard for a while: compare everything.
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) | Err(_) => None,
            };
            let Some(host) = weak.upgrade() else { return };
            if let Err(e) = host.sync_from_store(only.as_deref()).await {
                tracing::warn!("following the stored components: {e}");
            }
        }
    });
}

async fn read_database_clock(host: &Host) {
    let before = clock::system_ms();
    let reading = host.store().database_now().await;
    let after = clock::system_ms();
    match reading {
        Ok(Some(database)) => {
            let previous = clock::database_offset_ms();
            if clock::follow_database(before, database, after) {
                let offset = clock::database_offset_ms();
                if (offset - previous).abs() > 1_000 {
                    tracing::warn!(
                        offset_ms = offset,
                        "this node's clock differs from the database's; times follow the database's"
                    );
                }
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("reading the database's clock: {e}"),
    }
}
