//! How commands reach a host: its URL and the API key to send. The key is, first found:
//! `--api-key` / `TSDEV_API_KEY`; the one `tsdev login URL` saved for that URL; for a host
//! on loopback, the admin key a host made in the local data directory (`./.tsdev/admin.key`,
//! or `--data`), so that the README's first commands need no key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::DEFAULT_URL;

/// The host a command talks to.
#[derive(Args, Clone, Debug)]
pub(super) struct HostArgs {
    /// The host.
    #[arg(long, global = true, default_value = DEFAULT_URL, env = "TSDEV_URL")]
    pub url: String,
    /// API key (`tsdev_…`); see `tsdev login`.
    #[arg(long, global = true, env = "TSDEV_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Data directory of a local host, whose admin key is used for a host on loopback.
    #[arg(long = "data", global = true, default_value = "./.tsdev", hide = true)]
    pub local_data: PathBuf,
}

impl HostArgs {
    /// `path` on the host (`/v1/components`).
    pub(super) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }

    /// An HTTP client sending the key, if there is one.
    pub(super) fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = self.key() {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .context("the API key is not a valid header value")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder().default_headers(headers);
        // https hosts: the Web PKI roots with ring, as the host's own outbound requests.
        if let Some(tls) = crate::tls::client_config() {
            builder = builder.tls_backend_preconfigured(tls);
        }
        builder.build().context("building an HTTP client")
    }

    fn key(&self) -> Option<String> {
        if let Some(key) = &self.api_key {
            return Some(key.trim().to_string());
        }
        if let Some(key) = saved_keys()
            .ok()
            .and_then(|mut keys| keys.remove(self.url.trim_end_matches('/')))
        {
            return Some(key);
        }
        is_loopback_url(&self.url)
            .then(|| super::bootstrap::read_local_admin_key(&self.local_data))
            .flatten()
    }
}

/// Whether `url` names this machine.
fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where `tsdev login` keeps keys: `$XDG_CONFIG_HOME/tsdev/keys.json` or
/// `~/.config/tsdev/keys.json`, mode 0600.
fn keys_file() -> anyhow::Result<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".config"),
    };
    Ok(config.join("tsdev").join("keys.json"))
}

/// Keys saved by `tsdev login`, by host URL.
pub(super) fn saved_keys() -> anyhow::Result<BTreeMap<String, String>> {
    let path = keys_file()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Save `key` for `url`; the file where it went.
pub(super) fn save_key(url: &str, key: &str) -> anyhow::Result<PathBuf> {
    let path = keys_file()?;
    let mut keys = saved_keys()?;
    keys.insert(url.trim_end_matches('/').to_string(), key.to_string());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&path, &serde_json::to_string_pretty(&keys)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("json.new");
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}
