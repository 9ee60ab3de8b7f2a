//! The host admin key at start (`tsdev serve` with keys required):
//!
//! - given (`--admin-key-file`, `TSDEV_ADMIN_KEY`): kept in the store if it is not there yet;
//! - else, when the store has no live admin key: one is made and written to
//!   `DATA/admin.key` (mode 0600); the log names the file, never the key.
//!
//! CLI commands talking to a host on loopback read that file when given no key.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::access::{self, Scope};
use crate::clock::now_ms;
use crate::store::{Store, StoredKey};

/// The file in the data directory that holds a generated admin key.
pub(super) const ADMIN_KEY_FILE: &str = "admin.key";

/// Make sure the store holds a live admin key: `given`, or one made now (see the module
/// docs).
pub(super) async fn admin_key(
    store: &dyn Store,
    data: &Path,
    given: Option<String>,
) -> anyhow::Result<()> {
    let now = now_ms();
    if let Some(key) = given {
        anyhow::ensure!(
            access::is_well_formed_key(&key),
            "the admin key given is not a tsdev key (tsdev_…, with a valid checksum); \
             make one with `tsdev key generate`"
        );
        let hash = access::hash_key(&key);
        match store.key_by_hash(&hash).await? {
            Some(stored) if stored.is_live(now) && stored.scopes.contains(&Scope::Admin) => {}
            Some(stored) => anyhow::bail!(
                "the admin key given is {} in the store (key {}): give another",
                if stored.is_live(now) {
                    "not an admin key"
                } else {
                    "revoked or expired"
                },
                stored.id
            ),
            None => {
                store.create_key(&admin(hash, "admin (given)", now)).await?;
                tracing::info!("the admin key given is now a host admin key");
            }
        }
        return Ok(());
    }
    let live_admin = store
        .list_keys(None)
        .await?
        .iter()
        .any(|k| k.is_live(now) && k.scopes.contains(&Scope::Admin));
    if live_admin {
        return Ok(());
    }
    let secret = access::generate_key().context("making an admin key")?;
    let path = data.join(ADMIN_KEY_FILE);
    write_private(&path, &format!("{}\n", secret.key))
        .with_context(|| format!("writing the admin key to {}", path.display()))?;
    store
        .create_key(&admin(secret.hash, "admin (bootstrap)", now))
        .await?;
    tracing::info!(file = %path.display(), "made a host admin key; it is in this file (mode 0600)");
    Ok(())
}

fn admin(hash: String, name: &str, now: i64) -> StoredKey {
    StoredKey {
        id: access::new_key_id(),
        tenant: None,
        name: name.to_string(),
        hash,
        scopes: vec![Scope::Admin],
        created_at: now,
        expires_at: None,
        revoked_at: None,
    }
}

/// Write `text` to a file only its owner can read, replacing what was there.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The admin key in `data`, if a host made one there.
pub(super) fn read_local_admin_key(data: &Path) -> Option<String> {
    let key = std::fs::read_to_string(data.join(ADMIN_KEY_FILE)).ok()?;
    let key = key.trim().to_string();
    access::is_well_formed_key(&key).then_some(key)
}
