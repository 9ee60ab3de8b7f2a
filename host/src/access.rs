//! Who may do what: API keys, their scopes, and tenant names. The pieces every layer
//! shares (the store keeps keys, the HTTP layer checks them); the checking itself is in
//! `http::auth`.
//!
//! A key looks like `tsdev_` + 32 random base62 characters + a 6-character checksum (CRC-32
//! of the random part, base62): the prefix and checksum let secret scanners recognise a
//! leaked key without asking the host. The store keeps only its SHA-256 (a key has about
//! 190 bits of entropy, so a fast hash is right).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest;

/// What every key starts with.
pub const KEY_PREFIX: &str = "tsdev_";
/// Random characters in a key, after the prefix.
const KEY_RANDOM_CHARS: usize = 32;
/// Checksum characters at the end of a key.
const KEY_CHECKSUM_CHARS: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Longest tenant name.
pub const MAX_TENANT_NAME: usize = 63;

/// What a key may do. A tenant's key acts in its tenant only; an `admin` key acts on the
/// whole host.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every tenant: tenants, their keys, the whole audit log; and everything in `default`.
    Admin,
    /// Upload and delete components.
    Deploy,
    /// Call private procedures; start workflows.
    Call,
    /// Cancel executions; send signals.
    Operate,
    /// Read components, procedures, executions and the tenant's audit log.
    Read,
    /// Create, list and revoke the tenant's own keys.
    Keys,
}

impl Scope {
    /// Every scope, in a fixed order.
    pub const ALL: [Scope; 6] = [
        Scope::Admin,
        Scope::Deploy,
        Scope::Call,
        Scope::Operate,
        Scope::Read,
        Scope::Keys,
    ];

    /// The scope's name in the API: `deploy`, `read`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Deploy => "deploy",
            Scope::Call => "call",
            Scope::Operate => "operate",
            Scope::Read => "read",
            Scope::Keys => "keys",
        }
    }

    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new key: the secret (shown once) and what is stored of it.
pub struct NewKeySecret {
    /// The key itself, to hand to its owner once.
    pub key: String,
    /// Its SHA-256, hex: what the store keeps.
    pub hash: String,
}

/// Whether `name` is a plain name, as tenants, components and schedules are named (they
/// stand in URLs and logs): 1 to `max_len` of `a-z`, `0-9` and `-`, starting with a letter.
pub fn is_plain_name(name: &str, max_len: usize) -> bool {
    !name.is_empty()
        && name.len() <= max_len
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Make a new random key.
pub fn generate_key() -> Result<NewKeySecret, getrandom::Error> {
    let mut random = [0u8; KEY_RANDOM_CHARS];
    getrandom::fill(&mut random)?;
    // 62 * 4 = 248 < 256: keeping bytes below 248 makes every character equally likely.
    let mut body = String::with_capacity(KEY_RANDOM_CHARS);
    let mut pool = random.to_vec();
    while body.len() < KEY_RANDOM_CHARS {
        match pool.pop() {
            Some(byte) if byte < 248 => body.push(BASE62[usize::from(byte % 62)] as char),
            Some(_) => {}
            None => {
                let mut more = [0u8; KEY_RANDOM_CHARS];
                getrandom::fill(&mut more)?;
                pool.extend_from_slice(&more);
            }
        }
    }
    let key = format!("{KEY_PREFIX}{body}{}", checksum(&body));
    Ok(NewKeySecret {
        hash: hash_key(&key),
        key,
    })
}

/// A new key's public id: safe to log and show.
pub fn new_key_id() -> String {
    format!("key-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// The stored form of `key`: its SHA-256, hex.
pub fn hash_key(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// Whether `key` has the shape of a tsdev key with a right checksum: a typo or a foreign
/// token is told apart without a store lookup.
pub fn is_well_formed_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(KEY_PREFIX) else {
        return false;
    };
    if rest.len() != KEY_RANDOM_CHARS + KEY_CHECKSUM_CHARS
        || !rest.bytes().all(|b| BASE62.contains(&b))
    {
        return false;
    }
    let (body, sum) = rest.split_at(KEY_RANDOM_CHARS);
    checksum(body) == sum
}

/// CRC-32 of `body` in [`KEY_CHECKSUM_CHARS`] base62 characters.
fn checksum(body: &str) -> String {
    let mut crc = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; KEY_CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a tenant name is refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid tenant name {0:?}: use 1 to {MAX_TENANT_NAME} lowercase letters, digits and '-', \
     starting with a letter"
)]
pub struct InvalidTenantName(pub String);

/// Check a tenant name: it appears in paths (`/t/{tenant}/…`) and in logs.
pub fn check_tenant_name(name: &str) -> Result<(), InvalidTenantName> {
    if is_plain_name(name, MAX_TENANT_NAME) {
        Ok(())
    } else {
        // Shown with {:?}, which escapes control characters; cut to a readable length.
        Err(InvalidTenantName(
            name.chars().take(MAX_TENANT_NAME + 8).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_recognisable_and_checked() {
        let new = generate_key().expect("randomness");
        assert!(new.key.starts_with(KEY_PREFIX));
        assert_eq!(new.key.len(), KEY_PREFIX.len() + 38);
        assert!(is_well_formed_key(&new.key));
        assert_eq!(new.hash, hash_key(&new.key));
        assert_eq!(new.hash.len(), 64);
        assert_ne!(generate_key().expect("randomness").key, new.key);

        // One character changed: the checksum catches it.
        let mut typo = new.key.clone().into_bytes();
        let at = KEY_PREFIX.len() + 3;
        typo[at] = if typo[at] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).expect("ASCII");
        assert!(!is_well_formed_key(&typo));
        assert!(!is_well_formed_key("tsdev_short"));
        assert!(!is_well_formed_key(&new.key.replace(KEY_PREFIX, "ghp_")));
    }

    #[test]
    fn scopes_round_trip_by_name() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            let json = serde_json::to_string(&scope).expect("serialises");
            assert_eq!(json, format!("\"{scope}\""));
        }
        assert_eq!(Scope::parse("root"), None);
    }

    #[test]
    fn tenant_names_are_path_and_log_safe() {
        for ok in ["default", "acme", "team-7", "a"] {
            assert!(check_tenant_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "7up", "a/b", "a b", "x\n", &"a".repeat(64)] {
            assert!(check_tenant_name(bad).is_err(), "{bad:?}");
        }
    }
}
