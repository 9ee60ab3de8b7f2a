//! `[grants]` of `tsdev.toml`: the capabilities a component may use, each scoped to its
//! tenant (docs/capabilities.md). Nothing is ambient: what is not granted here is refused,
//! at upload for an interface behind a grant, and at the call for a bucket or a host not
//! named.
//!
//! ```toml
//! [grants]
//! key-value = ["todos"]                                  # wasi:keyvalue buckets
//! outbound-http = ["https://api.example.com", "https://*.example.net:8443"]
//! invoke = ["orders.create"]                             # procedures of its tenant
//! config = ["api-url", "api-key"]                        # config keys it may read
//! ```

use std::net::IpAddr;

use serde::Deserialize;

use crate::limits::{MAX_BUCKET_NAME_LEN, MAX_CONFIG_KEY_LEN};

/// A grant that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A bucket name key-value does not accept.
    #[error(
        "bucket name {0:?}: use 1 to {MAX_BUCKET_NAME_LEN} letters, digits, '-', '_' and '.', starting with a letter or digit"
    )]
    Bucket(String),
    /// A config key with characters config keys do not have.
    #[error("config key {0:?}: use 1 to {MAX_CONFIG_KEY_LEN} letters, digits, '-', '_' and '.'")]
    ConfigKey(String),
    /// An outbound host that is not `scheme://host[:port]`.
    #[error("outbound-http {grant:?}: {reason}")]
    Outbound {
        /// The grant as written.
        grant: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `[grants]`, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Grants {
    /// Key-value buckets (`wasi:keyvalue/store.open`) it may open.
    #[serde(default)]
    pub key_value: Vec<String>,
    /// Origins (`scheme://host[:port]`, `*.` for any subdomain) it may send HTTP requests to.
    #[serde(default)]
    pub outbound_http: Vec<String>,
    /// Procedures of its tenant (`interface.function`) it may call (`tsdev:host/invoke`).
    #[serde(default)]
    pub invoke: Vec<String>,
    /// Config keys (`wasi:config/store`) it may read: values and secrets.
    #[serde(default)]
    pub config: Vec<String>,
}

impl Grants {
    /// Whether the component may open bucket `name`.
    pub fn allows_bucket(&self, name: &str) -> bool {
        self.key_value.iter().any(|b| b == name)
    }

    /// Whether the component may read config key `key`.
    pub fn allows_config(&self, key: &str) -> bool {
        self.config.iter().any(|k| k == key)
    }

    /// Whether the component may call procedure `name`.
    pub fn allows_invoke(&self, name: &str) -> bool {
        self.invoke.iter().any(|p| p == name)
    }

    /// The first outbound grant that allows a request to `scheme://host:port`.
    pub fn outbound_grant(&self, https: bool, host: &str, port: u16) -> Option<OutboundGrant> {
        self.outbound_http
            .iter()
            .filter_map(|text| OutboundGrant::parse(text).ok())
            .find(|grant| grant.allows(https, host, port))
    }

    /// Refuse grants that cannot be used, naming the first.
    pub fn check(&self) -> Result<(), GrantError> {
        for bucket in &self.key_value {
            check_bucket_name(bucket)?;
        }
        for origin in &self.outbound_http {
            OutboundGrant::parse(origin)?;
        }
        for key in &self.config {
            check_config_key(key)?;
        }
        Ok(())
    }
}

/// Bucket names appear in URLs (`/v1/kv/{bucket}/{key}`): letters, digits, `-`, `_`
/// and `.`, starting with a letter or digit, at most [`MAX_BUCKET_NAME_LEN`].
pub(crate) fn check_bucket_name(name: &str) -> Result<(), GrantError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_BUCKET_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(GrantError::Bucket(name.to_string()))
    }
}

/// Config keys: 1 to [`MAX_CONFIG_KEY_LEN`] letters, digits, `_`, `-` and `.`.
pub(crate) fn check_config_key(key: &str) -> Result<(), GrantError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_CONFIG_KEY_LEN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(GrantError::ConfigKey(key.to_string()))
    }
}

/// One `outbound-http` grant: a scheme, a host (or every subdomain of one) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundGrant {
    https: bool,
    host: HostPattern,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// This host, lowercase (an IPv6 literal without brackets).
    Exact(String),
    /// Any host ending in this (`.example.com`), not the bare domain.
    Subdomains(String),
}

impl OutboundGrant {
    /// Parse `http://host`, `https://host:port` or `https://*.domain`; a path is refused (a
    /// grant is for an origin).
    pub fn parse(text: &str) -> Result<OutboundGrant, GrantError> {
        let bad = |reason: &str| GrantError::Outbound {
            grant: text.to_string(),
            reason: reason.to_string(),
        };
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("start with http:// or https://"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) || authority.is_empty() {
            return Err(bad(
                "name an origin only: scheme://host[:port], no path or user",
            ));
        }
        let (host, port) =
            split_port(authority).ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        let host = host.to_ascii_lowercase();
        let pattern = match host.strip_prefix("*.") {
            Some(domain) if valid_host(domain) && !domain.contains('*') => {
                HostPattern::Subdomains(format!(".{domain}"))
            }
            Some(_) => return Err(bad("a wildcard is `*.` before a domain name")),
            None if valid_host(&host) => HostPattern::Exact(host),
            None => return Err(bad("the host is not a valid host name or address")),
        };
        Ok(OutboundGrant {
            https,
            host: pattern,
            port,
        })
    }

    /// Whether the grant allows a request to `host` (lowercase, IPv6 without brackets).
    pub fn allows(&self, https: bool, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.https == https
            && self.port == port
            && match &self.host {
                HostPattern::Exact(exact) => *exact == host,
                HostPattern::Subdomains(suffix) => {
                    host.len() > suffix.len() && host.ends_with(suffix.as_str())
                }
            }
    }

    /// Whether the grant names `ip` itself, so that a private `ip` may be reached: the
    /// grant's host is that address, or `localhost` and `ip` is a loopback address.
    pub fn names_address(&self, ip: IpAddr) -> bool {
        match &self.host {
            HostPattern::Exact(host) if host == "localhost" => ip.is_loopback(),
            HostPattern::Exact(host) => host
                .parse::<IpAddr>()
                .is_ok_and(|named| canonical(named) == canonical(ip)),
            HostPattern::Subdomains(_) => false,
        }
    }
}

/// `host` and its port, if any; `[v6]:port` and bare `[v6]` too. `None`: a bad port.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port = |text: &str| text.parse::<u16>().ok().filter(|p| *p > 0);
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(port(p)?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Some((host, Some(port(p)?))),
        None => Some((authority, None)),
    }
}

/// A host name of letters, digits, `-` and `.`, or an IP address.
fn valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is an address a guest must not reach unless a grant names it: loopback,
/// private, link-local, unspecified (which connects to this machine) and their IPv6
/// counterparts (unique local `fc00::/7`, link-local `fe80::/10`, IPv4-mapped).
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(text: &str) -> OutboundGrant {
        OutboundGrant::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn outbound_grants_match_scheme_host_and_port_exactly() {
        let api = grant("https://API.example.com");
        assert!(api.allows(true, "api.example.com", 443));
        assert!(
            !api.allows(false, "api.example.com", 443),
            "the scheme counts"
        );
        assert!(
            !api.allows(true, "api.example.com", 8443),
            "the port counts"
        );
        assert!(!api.allows(true, "evil-api.example.com", 443));
        assert!(!api.allows(true, "api.example.com.evil.net", 443));

        let any = grant("https://*.example.com");
        assert!(any.allows(true, "a.example.com", 443));
        assert!(any.allows(true, "a.b.example.com", 443));
        assert!(!any.allows(true, "example.com", 443), "not the bare domain");
        assert!(!any.allows(true, "badexample.com", 443));

        let local = grant("http://127.0.0.1:8080/");
        assert!(local.allows(false, "127.0.0.1", 8080));
        assert!(!local.allows(false, "127.0.0.1", 80));
        let v6 = grant("http://[::1]:9000");
        assert!(v6.allows(false, "::1", 9000));
    }

    #[test]
    fn bad_outbound_grants_are_refused() {
        for bad in [
            "api.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://*",
            "https://a.*.example.com",
            "https://exa mple.com",
            "https://",
        ] {
            assert!(
                OutboundGrant::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn private_addresses_are_told_and_named_only_explicitly() {
        for private in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "::",
            "fc00::1",
            "fd12::3",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("an address");
            assert!(is_private(ip), "{private} is private");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = public.parse().expect("an address");
            assert!(!is_private(ip), "{public} is public");
        }
        let loopback: IpAddr = "127.0.0.1".parse().expect("an address");
        assert!(grant("http://127.0.0.1:80").names_address(loopback));
        assert!(grant("http://localhost:80").names_address(loopback));
        assert!(grant("http://[::ffff:127.0.0.1]:80").names_address(loopback));
        assert!(!grant("http://api.example.com").names_address(loopback));
        assert!(!grant("http://10.0.0.1").names_address(loopback));
    }

    #[test]
    fn grants_are_checked_whole() {
        let grants = Grants {
            key_value: vec!["todos".into()],
            outbound_http: vec!["https://api.example.com".into()],
            invoke: vec!["orders.create".into()],
            config: vec!["api-key".into()],
        };
        assert!(grants.allows_config("api-key") && !grants.allows_config("other"));
        assert!(grants.allows_invoke("orders.create"));
        assert!(!grants.allows_invoke("orders.delete"));
        assert!(grants.check().is_ok());
        assert!(
            grants
                .outbound_grant(true, "api.example.com", 443)
                .is_some()
        );
        assert!(
            grants
                .outbound_grant(true, "other.example.com", 443)
                .is_none()
        );
        let bad = Grants {
            outbound_http: vec!["example.com".into()],
            ..Grants::default()
        };
        assert!(bad.check().is_err());
    }
}
