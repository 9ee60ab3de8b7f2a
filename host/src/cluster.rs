//! What keeps a node in step with the other nodes sharing its PostgreSQL database:
//!
//! - its registries follow the stored components ([`Host::sync_from_store`]) on every
//!   notice that a tenant's components changed, and every [`COMPONENT_CHECK`] in case a
//!   notice was lost;
//! - its clock follows the database's (see [`crate::clock`]), read every
//!   [`DATABASE_CLOCK_CHECK`];
//! - the API keys it remembers are forgotten when a key is revoked anywhere.
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
        // The check comes every COMPONENT_CHECK however many other notices arrive (a busy
        // cluster sends one per finished execution).
        let mut check = tokio::time::interval(COMPONENT_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let only = tokio::select! {
                notice = notices.recv() => match notice {
                    Ok(Notice::ComponentsChanged(tenant)) => Some(tenant),
                    Ok(Notice::KeysChanged) => {
                        let Some(host) = weak.upgrade() else { return };
                        host.tenants().forget_keys();
                        continue;
                    }
                    Ok(Notice::ExecutionFinished(_) | Notice::Due(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    // Notices were lost: keys may have been revoked; compare everything.
                    Ok(Notice::Missed) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let Some(host) = weak.upgrade() else { return };
                        host.tenants().forget_keys();
                        None
                    }
                },
                _ = check.tick() => None,
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
