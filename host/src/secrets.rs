//! Secrets at rest: component config values marked secret are kept sealed with the host's
//! secrets key (XChaCha20-Poly1305, a random nonce each), bound to their tenant, component
//! and key, so that a sealed value copied elsewhere in the database does not open. The key
//! comes from `--secrets-key-file` (every node of a cluster needs the same one), else
//! `DATA/secrets.key`, made at the first start (mode 0600).

use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The file under the data directory a key is made in when none is given.
pub(crate) const KEY_FILE: &str = "secrets.key";

/// What starts a sealed value: the format, so that a later one can be told apart.
const SEALED_PREFIX: &str = "xc20p1:";

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// A key or a sealed value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretsError {
    /// The key file cannot be read or written.
    #[error("secrets key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A sealed value that does not open with this key (another host's key, or altered).
    #[error("a sealed secret does not open with this host's secrets key")]
    Unsealable,
}

/// The host's secrets key.
pub(crate) struct SecretsKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl SecretsKey {
    /// The key in `file` (base64 of 32 bytes, one line), or the one under `data_dir`,
    /// made now if there is none.
    pub(crate) fn load(file: Option<&Path>, data_dir: &Path) -> Result<SecretsKey, SecretsError> {
        let made = data_dir.join(KEY_FILE);
        let path = file.unwrap_or(&made);
        let error = |message: String| SecretsError::KeyFile {
            path: path.display().to_string(),
            message,
        };
        if file.is_none() && !path.exists() {
            let mut key = [0u8; KEY_BYTES];
            getrandom::fill(&mut key).map_err(|e| error(e.to_string()))?;
            write_private(path, &base64::engine::general_purpose::STANDARD.encode(key))
                .map_err(|e| error(e.to_string()))?;
        }
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| error(format!("not base64: {e}")))?;
        if bytes.len() != KEY_BYTES {
            return Err(error(format!(
                "holds {} bytes; a key is {KEY_BYTES} (base64, one line)",
                bytes.len()
            )));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|e| error(e.to_string()))?;
        Ok(SecretsKey { cipher })
    }

    /// `plaintext` sealed for the place `place` names (tenant, component, key).
    pub(crate) fn seal(&self, place: &str, plaintext: &str) -> Result<String, SecretsError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|_| SecretsError::Unsealable)?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: place.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Unsealable)?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// The plaintext of a value [`SecretsKey::seal`] made for `place`.
    pub(crate) fn open(&self, place: &str, sealed: &str) -> Result<String, SecretsError> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_BYTES)
            .ok_or(SecretsError::Unsealable)?;
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: place.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Unsealable)?;
        String::from_utf8(plain).map_err(|_| SecretsError::Unsealable)
    }
}

/// Write `text` to a new file only its owner may read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_place_with_their_key() {
        let dir = tempfile::tempdir().expect("a directory");
        let key = SecretsKey::load(None, dir.path()).expect("a key is made");
        let sealed = key.seal("acme/app/token", "s3cret").expect("sealed");
        assert!(!sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            key.seal("acme/app/token", "s3cret").expect("sealed"),
            "a fresh nonce each"
        );
        assert_eq!(
            key.open("acme/app/token", &sealed).expect("opens"),
            "s3cret"
        );
        assert!(
            key.open("beta/app/token", &sealed).is_err(),
            "bound to its place"
        );
        // The key made is kept: loading again opens what was sealed.
        let again = SecretsKey::load(None, dir.path()).expect("the same key");
        assert_eq!(
            again.open("acme/app/token", &sealed).expect("opens"),
            "s3cret"
        );
        let other = tempfile::tempdir().expect("a directory");
        let other = SecretsKey::load(None, other.path()).expect("another key");
        assert!(other.open("acme/app/token", &sealed).is_err());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(KEY_FILE))
                .expect("the key file")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_given_key_file_must_hold_a_key() {
        let dir = tempfile::tempdir().expect("a directory");
        let short = dir.path().join("short.key");
        std::fs::write(&short, "c2hvcnQ=\n").expect("written");
        let error = SecretsKey::load(Some(&short), dir.path()).expect_err("refused");
        assert!(error.to_string().contains("32"), "{error}");
        let missing = dir.path().join("missing.key");
        assert!(
            SecretsKey::load(Some(&missing), dir.path()).is_err(),
            "never made when given"
        );
    }
}
