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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// The IPv4 ranges a guest must not reach unless a grant names the address: every range
/// of IANA's IPv4 Special-Purpose Address Registry that is not globally reachable (RFC
/// 6890 and its updates), multicast and the limited broadcast address. `0.0.0.0/8`
/// connects to this machine; `100.64.0.0/10` holds cloud metadata addresses
/// (100.100.100.200).
pub(crate) const NOT_GLOBAL_V4: [(Ipv4Addr, u8, &str); 15] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8, "this network"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private use"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared address space"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private use"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (TEST-NET-1)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "6to4 relay anycast (deprecated)",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private use"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (TEST-NET-2)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (TEST-NET-3)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    // Reserved for future use, and the limited broadcast address within it.
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
];

/// The IPv6 ranges likewise: IANA's IPv6 Special-Purpose Address Registry, those not
/// globally reachable, plus the translation and tunnel prefixes that embed an IPv4 address
/// (NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, IPv4-compatible `::/96`), which would reach a
/// private IPv4 address by another name, the deprecated site-local `fec0::/10`, and
/// multicast. IPv4-mapped addresses (`::ffff:0:0/96`) are judged as the IPv4 address.
pub(crate) const NOT_GLOBAL_V6: [(Ipv6Addr, u8, &str); 15] = [
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        96,
        "unspecified, loopback, IPv4-compatible",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        96,
        "IPv4/IPv6 translation (NAT64)",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use IPv4/IPv6 translation",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only",
    ),
    // The whole block, its few globally reachable assignments (AMT, AS112) included.
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4"),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "segment routing (SRv6) SIDs",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local unicast",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local (deprecated)",
    ),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
    // Inside ::/96 already, named for the reader.
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, "loopback"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, "unspecified"),
];

/// The special-purpose range `ip` lies in (see [`NOT_GLOBAL_V4`], [`NOT_GLOBAL_V6`]), if
/// it lies in one: such an address is one a guest must not reach unless a grant names it.
pub(crate) fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    fn within(address: u128, network: u128, prefix: u8, bits: u8) -> bool {
        let shift = u32::from(bits - prefix);
        prefix == 0 || address.checked_shr(shift) == network.checked_shr(shift)
    }
    match canonical(ip) {
        IpAddr::V4(v4) => NOT_GLOBAL_V4
            .iter()
            .find(|(net, prefix, _)| {
                within(u32::from(v4).into(), u32::from(*net).into(), *prefix, 32)
            })
            .map(|(_, _, name)| *name),
        IpAddr::V6(v6) => NOT_GLOBAL_V6
            .iter()
            .find(|(net, prefix, _)| within(u128::from(v6), u128::from(*net), *prefix, 128))
            .map(|(_, _, name)| *name),
    }
}

/// Whether `ip` is an address a guest must not reach unless a grant names it: one that is
/// not globally reachable ([`special_purpose`]).
pub(crate) fn is_private(ip: IpAddr) -> bool {
    special_purpose(ip).is_some()
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
            "100.63.255.255",
            "100.128.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "192.0.3.0",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:1.1.1.1",
            "64:ff9b:0:0:1::1",
            "2a00::1",
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

    /// Every special-purpose range, at its first and last address, and the addresses the
    /// outside probe found let through (a cloud metadata address, benchmarking, reserved,
    /// multicast, broadcast, NAT64, IPv6 multicast).
    #[test]
    fn every_range_not_globally_reachable_is_refused_from_first_to_last_address() {
        for (network, prefix, name) in NOT_GLOBAL_V4 {
            let first = u32::from(network);
            let last = first | u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            for ip in [first, last] {
                let ip = IpAddr::V4(Ipv4Addr::from(ip));
                assert!(is_private(ip), "{ip} ({name}) is refused");
                let mapped = match ip {
                    IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
                    v6 => v6,
                };
                assert!(
                    is_private(mapped),
                    "{mapped} ({name}, IPv4-mapped) is refused"
                );
            }
        }
        for (network, prefix, name) in NOT_GLOBAL_V6 {
            let first = u128::from(network);
            let last = first | u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            for ip in [first, last] {
                let ip = IpAddr::V6(Ipv6Addr::from(ip));
                assert!(is_private(ip), "{ip} ({name}) is refused");
            }
        }
        for found in [
            "100.100.100.200",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "224.0.0.251",
            "239.255.255.250",
            "255.255.255.255",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "ff02::1",
            "ff05::2",
        ] {
            let ip: IpAddr = found.parse().expect("an address");
            assert!(is_private(ip), "{found} is refused");
        }
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
