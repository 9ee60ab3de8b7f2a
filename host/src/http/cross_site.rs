//! What a web page in someone's browser could make that browser send to a host it can
//! reach (a developer's host on localhost, a host on an intranet), refused:
//!
//! - **Requests from another origin.** Browsers send `Origin` with every cross-origin
//!   `fetch` and every form POST. Only the host's own pages (`/docs`) and the origins
//!   allowed with `--cors-origin` may call it; an unsafe method (POST, PUT, PATCH, DELETE)
//!   that a browser marks `Sec-Fetch-Site: cross-site` or `same-site` without an `Origin`
//!   is refused too. Clients that are not browsers (curl, the CLI, servers) send neither.
//! - **Another host name** (DNS rebinding: a name the attacker controls, made to resolve
//!   to 127.0.0.1, makes the page same-origin with the host). When the host listens on
//!   loopback only, the `Host` header must name this machine: `localhost`, `*.localhost`
//!   or a loopback address.
//! - **Form bodies**: `text/plain`, `application/x-www-form-urlencoded` and
//!   `multipart/form-data` are what a page can send without a CORS preflight. Nothing here
//!   takes them: procedures take JSON, uploads `application/wasm`.
//!
//! These answer `403 cross-origin`, `403 unknown-host` and `415 unsupported-media-type`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::Problem;
use crate::error_kind::ErrorKind;
use crate::runtime::output::printable;

/// Which requests [`refuse_cross_site`] lets through.
#[derive(Clone, Debug)]
pub(crate) struct CrossSite {
    /// Every origin may call (`--cors-origin '*'`).
    pub(crate) any_origin: bool,
    /// Origins allowed besides the host's own, exactly as browsers write them.
    pub(crate) origins: Vec<String>,
    /// Only loopback host names are served (the host listens on loopback only).
    pub(crate) loopback_only: bool,
}

/// Media types a page can send cross-origin without a preflight, other than JSON's.
const FORM_MEDIA_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// The middleware: refuse what the module docs list, pass the rest on.
pub(crate) async fn refuse_cross_site(
    State(rules): State<Arc<CrossSite>>,
    request: Request,
    next: Next,
) -> Result<Response, Problem> {
    rules.check(request.method(), request.headers())?;
    Ok(next.run(request).await)
}

impl CrossSite {
    fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Problem> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if self.loopback_only && !host.is_empty() && !is_loopback_authority(host) {
            return Err(Problem::of(
                ErrorKind::UnknownHost,
                format!(
                    "this host listens on loopback only and answers to localhost and loopback \
                     addresses, not {:?}",
                    printable(host)
                ),
            ));
        }
        let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        match headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or(""))
        {
            Some(origin) if !self.allows(origin, host) => {
                return Err(Problem::of(
                    ErrorKind::CrossOrigin,
                    format!(
                        "requests from pages on {:?} are refused: only this host's own pages \
                         and the origins allowed with --cors-origin may call it",
                        printable(origin)
                    ),
                ));
            }
            None if unsafe_method && is_cross_site_fetch(headers) => {
                return Err(Problem::of(
                    ErrorKind::CrossOrigin,
                    "a request a page on another site made is refused",
                ));
            }
            _ => {}
        }
        if unsafe_method && let Some(media_type) = form_media_type(headers) {
            return Err(Problem::of(
                ErrorKind::UnsupportedMediaType,
                format!(
                    "{media_type} is what web forms send; send arguments as application/json \
                     (with curl: --json '{{...}}') and components as application/wasm"
                ),
            ));
        }
        Ok(())
    }

    /// Whether a page on `origin` may call a host reached as `host`.
    fn allows(&self, origin: &str, host: &str) -> bool {
        if self.any_origin || self.origins.iter().any(|o| o == origin) {
            return true;
        }
        // The host's own pages: the origin names the authority the request was sent to.
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!(authority, Some(a) if !host.is_empty() && a.eq_ignore_ascii_case(host))
    }
}

/// `Sec-Fetch-Site` of a request another site's page made.
fn is_cross_site_fetch(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|site| site == "cross-site" || site == "same-site")
}

/// The body's media type, if it is one of [`FORM_MEDIA_TYPES`].
fn form_media_type(headers: &HeaderMap) -> Option<&'static str> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    FORM_MEDIA_TYPES
        .into_iter()
        .find(|form| essence.eq_ignore_ascii_case(form))
}

/// Whether a `Host` header value names this machine on loopback, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let name = match authority.strip_prefix('[') {
        // [::1]:3000
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    // Browsers resolve localhost and its subdomains to loopback themselves (RFC 6761).
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("a header value"));
        }
        map
    }

    const LOCAL: CrossSite = CrossSite {
        any_origin: false,
        origins: Vec::new(),
        loopback_only: true,
    };

    #[test]
    fn loopback_names_are_recognised_and_others_are_not() {
        for ok in [
            "localhost",
            "localhost:3000",
            "LOCALHOST.:80",
            "app.localhost:3000",
            "127.0.0.1:3000",
            "127.1.2.3",
            "[::1]:3000",
        ] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for refused in [
            "evil.example:3000",
            "localhost.evil.example",
            "10.0.0.1:3000",
            "[::2]:3000",
            "0.0.0.0:3000",
            "",
        ] {
            assert!(!is_loopback_authority(refused), "{refused}");
        }
    }

    #[test]
    fn a_page_on_another_origin_is_refused_and_the_hosts_own_is_not() {
        let own = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
        ]);
        assert!(LOCAL.check(&Method::POST, &own).is_ok());
        let other = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example"),
        ]);
        let refused = LOCAL.check(&Method::POST, &other).expect_err("refused");
        assert_eq!(refused.kind, ErrorKind::CrossOrigin);
        // Reading counts as well: a page must not read a host it was not allowed to.
        assert!(LOCAL.check(&Method::GET, &other).is_err());
        let null = headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]);
        assert!(LOCAL.check(&Method::POST, &null).is_err());

        let allowed = CrossSite {
            origins: vec!["https://app.example".into()],
            ..LOCAL
        };
        let app = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://app.example"),
        ]);
        assert!(allowed.check(&Method::POST, &app).is_ok());
        assert!(allowed.check(&Method::POST, &other).is_err());
    }

    #[test]
    fn a_cross_site_fetch_without_origin_may_read_but_not_change() {
        let h = headers(&[("host", "localhost:3000"), ("sec-fetch-site", "cross-site")]);
        assert!(LOCAL.check(&Method::GET, &h).is_ok(), "a link to /docs");
        assert!(LOCAL.check(&Method::DELETE, &h).is_err());
        let curl = headers(&[("host", "localhost:3000")]);
        assert!(LOCAL.check(&Method::DELETE, &curl).is_ok());
    }

    #[test]
    fn a_rebound_host_name_is_refused_only_on_loopback() {
        let rebound = headers(&[
            ("host", "evil.example:3000"),
            ("origin", "http://evil.example:3000"),
        ]);
        let refused = LOCAL.check(&Method::POST, &rebound).expect_err("refused");
        assert_eq!(refused.kind, ErrorKind::UnknownHost);
        let public = CrossSite {
            loopback_only: false,
            ..LOCAL
        };
        assert!(public.check(&Method::POST, &rebound).is_ok());
    }

    #[test]
    fn form_bodies_are_refused_json_and_wasm_are_not() {
        for form in [
            "text/plain",
            "Text/Plain; charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let h = headers(&[("host", "localhost"), ("content-type", form)]);
            let refused = LOCAL.check(&Method::POST, &h).expect_err(form);
            assert_eq!(refused.kind, ErrorKind::UnsupportedMediaType);
        }
        for fine in [
            "application/json",
            "application/wasm",
            "application/merge+json",
        ] {
            let h = headers(&[("host", "localhost"), ("content-type", fine)]);
            assert!(LOCAL.check(&Method::POST, &h).is_ok(), "{fine}");
        }
    }
}
