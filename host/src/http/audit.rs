//! The audit log: every management action (deploy, delete, tenant and key changes, cancel,
//! signal) with its outcome, and every refusal (401, 403) of a management endpoint, with
//! time, tenant, key id (never the key), action, target and request id. Entries are
//! appended after the answer is made; an entry that cannot be written is logged as an
//! error (the action itself has happened).
//!
//! Refusals of callers without a valid key (401: no key, or one that is no live key) are
//! anyone's who reaches the port: they are counted, not kept one by one ([`Strangers`]).
//! The first of each action, tenant and minute is an entry at once; the rest of that
//! minute become one more entry whose `repeats` says how many, written when the minute is
//! over (at the next refusal or read of the log after it). A flood of strangers' requests
//! adds at most two entries a minute per endpoint and tenant ([`MAX_STRANGER_WINDOWS`]).
//!
//! Targets are kept without the values of query parameters that look like API keys.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;

use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::runtime::output::printable;
use crate::store::AuditEntry;

/// Longest target kept (the request path and query).
const MAX_TARGET_LEN: usize = 512;

/// What a request was, for its entry.
pub(crate) struct Asked {
    /// The tenant named in the path (`/v1/tenants/{tenant}/…`), if one is.
    pub(crate) tenant: Option<String>,
    pub(crate) action: &'static str,
    pub(crate) write: bool,
    pub(crate) target: String,
    pub(crate) request_id: String,
}

impl Asked {
    /// The tenant a `/v1/tenants/{tenant}…` route names.
    pub(crate) fn tenant_of(route: &str, uri: &axum::http::Uri) -> Option<String> {
        if !route.starts_with("/v1/tenants/{tenant}") {
            return None;
        }
        uri.path()
            .split('/')
            .nth(3)
            .map(|t| printable(t).chars().take(64).collect())
    }

    /// The request's target as kept: its path and query, escaped and cut, with the value
    /// of any query parameter that holds an API key (`tsdev_…`) replaced by `REDACTED`.
    pub(crate) fn target_of(uri: &axum::http::Uri) -> String {
        let full = match uri.query() {
            Some(query) => format!("{}?{}", uri.path(), without_keys(query)),
            None => uri.path().to_string(),
        };
        printable(&full).chars().take(MAX_TARGET_LEN).collect()
    }
}

/// `query` with the value of every parameter that holds something shaped like an API key
/// (`tsdev_` and the rest, percent-encoded or not) redacted.
pub(crate) fn without_keys(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            if decoded
                .to_ascii_lowercase()
                .contains(crate::access::KEY_PREFIX)
            {
                format!("{name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// How long strangers' refusals of one action and tenant are counted into one entry.
pub(crate) const STRANGER_WINDOW_MS: i64 = 60_000;
/// Windows counted at once, at most: past this, a refusal for another tenant's path is
/// counted under the caller's tenant (`default`) instead, so that made-up tenant names in
/// paths cannot grow the count without bound.
pub(crate) const MAX_STRANGER_WINDOWS: usize = 512;

/// Refusals (401) of callers without a valid key, counted per window (see the module).
#[derive(Default)]
pub(crate) struct Strangers {
    windows: Mutex<HashMap<(i64, &'static str, String), Uncounted>>,
}

/// The refusals of a window not yet written: how many, and the latest of them.
struct Uncounted {
    more: u64,
    latest: Option<AuditEntry>,
}

impl Strangers {
    /// Count `entry` (a stranger's refusal); what to append now: the first entry of its
    /// window, and the counted rest of windows that are over.
    fn count(&self, action: &'static str, mut entry: AuditEntry) -> Vec<AuditEntry> {
        let window = entry.at.div_euclid(STRANGER_WINDOW_MS);
        let mut windows = self.lock();
        let mut key = (window, action, entry.tenant.clone());
        if !windows.contains_key(&key) && windows.len() >= MAX_STRANGER_WINDOWS {
            key.2 = crate::store::DEFAULT_TENANT.to_string();
            entry.tenant = key.2.clone();
        }
        let mut append = Vec::new();
        match windows.get_mut(&key) {
            Some(uncounted) => {
                uncounted.more += 1;
                uncounted.latest = Some(entry);
            }
            None => {
                windows.insert(
                    key,
                    Uncounted {
                        more: 0,
                        latest: None,
                    },
                );
                append.push(entry);
            }
        }
        append.extend(Self::take(&mut windows, |w| w < window));
        append
    }

    /// Every counted refusal not yet written, windows still open included (their later
    /// refusals are counted on): for a read of the log.
    fn flush(&self) -> Vec<AuditEntry> {
        Self::take(&mut self.lock(), |_| true)
    }

    /// The counted rest of the windows `over` says are to be written; windows that are
    /// over are forgotten.
    fn take(
        windows: &mut HashMap<(i64, &'static str, String), Uncounted>,
        over: impl Fn(i64) -> bool,
    ) -> Vec<AuditEntry> {
        let now = crate::clock::now_ms().div_euclid(STRANGER_WINDOW_MS);
        let mut append = Vec::new();
        windows.retain(|(window, _, _), uncounted| {
            if !over(*window) {
                return true;
            }
            if let Some(mut latest) = uncounted.latest.take() {
                latest.repeats = uncounted.more;
                append.push(latest);
            }
            uncounted.more = 0;
            *window >= now
        });
        append
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, &'static str, String), Uncounted>> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Write the strangers' refusals counted so far (before the log is read).
pub(crate) async fn flush_strangers(host: &Host, strangers: &Strangers) {
    for entry in strangers.flush() {
        append(host, &entry).await;
    }
}

async fn append(host: &Host, entry: &AuditEntry) {
    if let Err(e) = host.tenants().audit(entry).await {
        tracing::error!(action = entry.action, "appending to the audit log: {e}");
    }
}

/// Append the entry of `asked`, answered with `status` (and the problem `kind`, for a
/// problem), if it is one to keep. `who` is the caller's tenant and key id, when the
/// caller was known (not for a refused key).
pub(crate) async fn record(
    host: &Host,
    strangers: &Strangers,
    who: Option<(&str, Option<&str>)>,
    asked: Asked,
    status: StatusCode,
    kind: Option<ErrorKind>,
) {
    let refused = status.as_u16() == 401 || status.as_u16() == 403;
    if !asked.write && !refused {
        return;
    }
    let asked_action = asked.action;
    let outcome = match kind {
        Some(kind) => kind.as_str().to_string(),
        None if status.is_success() => "ok".to_string(),
        None => format!("status-{}", status.as_u16()),
    };
    let entry = AuditEntry {
        seq: 0,
        at: now_ms(),
        // The tenant acted on: the one the path names, else the caller's.
        tenant: asked.tenant.unwrap_or_else(|| {
            who.map_or(crate::store::DEFAULT_TENANT, |(tenant, _)| tenant)
                .to_string()
        }),
        key_id: who.and_then(|(_, key)| key).map(str::to_string),
        action: asked.action.to_string(),
        target: asked.target,
        request_id: asked.request_id,
        status: status.as_u16(),
        outcome,
        repeats: 1,
    };
    let stranger = status == StatusCode::UNAUTHORIZED && entry.key_id.is_none();
    if !stranger {
        return append(host, &entry).await;
    }
    for entry in strangers.count(asked_action, entry) {
        append(host, &entry).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(at: i64, tenant: &str, request_id: &str) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at,
            tenant: tenant.into(),
            key_id: None,
            action: "component.list".into(),
            target: "/v1/components".into(),
            request_id: request_id.into(),
            status: 401,
            outcome: "unauthenticated".into(),
            repeats: 1,
        }
    }

    #[test]
    fn strangers_refusals_are_one_entry_and_a_count_a_window() {
        let strangers = Strangers::default();
        let minute = STRANGER_WINDOW_MS;
        let first = strangers.count("component.list", refusal(minute, "default", "r1"));
        assert_eq!(first.len(), 1, "the first of its window is kept at once");
        for i in 2..=1000 {
            let more = strangers.count("component.list", refusal(minute + i, "default", "r"));
            assert!(more.is_empty(), "the rest of the window is counted");
        }
        // Another tenant's path is its own window.
        assert_eq!(
            strangers
                .count("component.list", refusal(minute + 5, "acme", "a1"))
                .len(),
            1
        );
        // The next minute's first refusal writes it, and the counted rest of the last.
        let next = strangers.count("component.list", refusal(2 * minute, "default", "r2"));
        assert_eq!(next.len(), 2, "{next:?}");
        assert_eq!(next[0].request_id, "r2");
        let counted = &next[1];
        assert_eq!((counted.repeats, counted.tenant.as_str()), (999, "default"));
        // A read of the log takes what is counted of open windows too, once.
        strangers.count("component.list", refusal(2 * minute + 1, "default", "r3"));
        let flushed = strangers.flush();
        assert_eq!(flushed.iter().map(|e| e.repeats).sum::<u64>(), 1);
        assert!(strangers.flush().is_empty());
    }

    #[test]
    fn made_up_tenants_cannot_grow_the_count_without_bound() {
        let strangers = Strangers::default();
        let mut written = 0;
        for i in 0..(4 * MAX_STRANGER_WINDOWS) {
            written += strangers
                .count(
                    "key.list",
                    refusal(STRANGER_WINDOW_MS, &format!("t{i}"), "r"),
                )
                .len();
        }
        assert_eq!(
            written,
            MAX_STRANGER_WINDOWS + 1,
            "then all go to default's"
        );
        assert!(strangers.lock().len() <= MAX_STRANGER_WINDOWS + 1);
    }

    #[test]
    fn keys_in_query_strings_are_not_kept() {
        let uri: axum::http::Uri =
            "/v1/components?key=tsdev_abcDEF123&limit=5&token=TSDEV_x%5Fy&q=tsdev%5Fz"
                .parse()
                .expect("a URI");
        let target = Asked::target_of(&uri);
        assert_eq!(
            target,
            "/v1/components?key=REDACTED&limit=5&token=REDACTED&q=REDACTED"
        );
        let plain: axum::http::Uri = "/v1/audit?action=component.deploy".parse().expect("a URI");
        assert_eq!(
            Asked::target_of(&plain),
            "/v1/audit?action=component.deploy"
        );
    }
}
