//! The journal of a workflow execution as stored: one typed entry per durable call, with
//! what was asked ([`Step`]) and the answer the workflow saw ([`Outcome`]).
//!
//! This is a persisted format that every later version and every node must read. Each row
//! carries the format it was written in ([`JOURNAL_FORMAT`] now); [`Outcome::decode`] reads
//! every format this host knows and refuses newer ones. Change the shapes below only with a
//! new format number, a decoder for the old one and a test on data the old version wrote.
//!
//! Format 1 (the first): `kind` is the step kind's kebab-case name; `request` and `outcome`
//! are the JSON of [`Step::request`] and of the kind's outcome shape below.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error_kind::ErrorKind;

/// The journal format this host writes.
pub const JOURNAL_FORMAT: i64 = 1;

/// What kind of durable call an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// A procedure call (`call`, `call-with`, one of `call-all`).
    Call,
    /// An inline step the guest ran itself.
    Inline,
    /// A durable sleep.
    Sleep,
    /// The start of a wait for a signal (its deadline).
    SignalWait,
    /// What a wait for a signal received.
    Signal,
    /// The time, read once.
    Now,
}

impl StepKind {
    /// Every kind.
    pub const ALL: [StepKind; 6] = [
        StepKind::Call,
        StepKind::Inline,
        StepKind::Sleep,
        StepKind::SignalWait,
        StepKind::Signal,
        StepKind::Now,
    ];

    /// The kind's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Call => "call",
            StepKind::Inline => "inline",
            StepKind::Sleep => "sleep",
            StepKind::SignalWait => "signal-wait",
            StepKind::Signal => "signal",
            StepKind::Now => "now",
        }
    }

    /// The kind stored as `text`.
    pub fn parse(text: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// What a durable call asked for: compared on replay to catch non-determinism.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What kind of durable call.
    pub kind: StepKind,
    /// The step's name (a procedure name for calls, unless the step was named).
    pub name: String,
    /// Its arguments (JSON).
    pub request: Value,
}

/// Why a step's call failed, as the workflow sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    /// The failure's kind.
    pub kind: ErrorKind,
    /// What happened, for people.
    pub message: String,
    /// The procedure's own error value, for `procedure-error` and `unavailable`.
    #[serde(default)]
    pub error: Option<Value>,
}

/// The outcome of a procedure call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallOutcome {
    /// The call failed; `retry_at` (ms since the epoch) when another attempt follows.
    Failed {
        /// Why.
        err: StepFailure,
        /// When the next attempt is due, if one follows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<i64>,
    },
    /// The call's JSON result.
    Ok {
        /// The result.
        ok: Value,
    },
}

/// What a wait for a signal received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SignalOutcome {
    /// A signal's JSON payload.
    Received {
        /// The payload.
        payload: Value,
    },
    /// The wait's deadline came first (`{"timeout": true}`).
    TimedOut {
        /// Always true.
        timeout: bool,
    },
}

/// The answer a durable call got; the variant matches the entry's [`StepKind`].
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A procedure call and its answer.
    Call(CallOutcome),
    /// A step run inline in the workflow: its JSON result.
    Inline {
        /// The step's result.
        result: Value,
    },
    /// A durable sleep.
    Sleep {
        /// When the sleep ends, ms since the epoch.
        wake_at: i64,
    },
    /// The start of a wait for a signal.
    SignalWait {
        /// When the wait ends without a signal, if it has a timeout.
        deadline: Option<i64>,
    },
    /// What a wait for a signal received.
    Signal(SignalOutcome),
    /// The durable clock's reading.
    Now {
        /// Milliseconds since the Unix epoch.
        ms: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct InlineShape {
    result: Value,
}

#[derive(Serialize, Deserialize)]
struct SleepShape {
    wake_at: i64,
}

#[derive(Serialize, Deserialize)]
struct SignalWaitShape {
    deadline: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct NowShape {
    ms: u64,
}

/// A journal row that this host cannot read.
#[derive(Debug, thiserror::Error)]
pub enum JournalFormatError {
    #[error(
        "journal format {0} is newer than this host's ({JOURNAL_FORMAT}); run a host at least as new as the one that wrote it"
    )]
    /// Written by a newer host.
    Newer(i64),
    #[error("unknown journal format {0}")]
    /// A format no host wrote.
    Unknown(i64),
    #[error("unknown step kind {0:?}")]
    /// A step kind this host does not know.
    UnknownKind(String),
    #[error("a {kind} outcome is not as format {format} has it: {source}")]
    /// An outcome that does not parse as its kind and format say.
    Shape {
        /// The entry's kind.
        kind: &'static str,
        /// The entry's format.
        format: i64,
        /// What did not parse.
        source: serde_json::Error,
    },
}

impl Outcome {
    /// The kind of entry this outcome belongs to.
    pub fn kind(&self) -> StepKind {
        match self {
            Outcome::Call(_) => StepKind::Call,
            Outcome::Inline { .. } => StepKind::Inline,
            Outcome::Sleep { .. } => StepKind::Sleep,
            Outcome::SignalWait { .. } => StepKind::SignalWait,
            Outcome::Signal(_) => StepKind::Signal,
            Outcome::Now { .. } => StepKind::Now,
        }
    }

    /// The outcome as JSON, in the current format.
    pub fn to_json(&self) -> Value {
        let value = match self {
            Outcome::Call(call) => serde_json::to_value(call),
            Outcome::Inline { result } => serde_json::to_value(InlineShape {
                result: result.clone(),
            }),
            Outcome::Sleep { wake_at } => serde_json::to_value(SleepShape { wake_at: *wake_at }),
            Outcome::SignalWait { deadline } => serde_json::to_value(SignalWaitShape {
                deadline: *deadline,
            }),
            Outcome::Signal(signal) => serde_json::to_value(signal),
            Outcome::Now { ms } => serde_json::to_value(NowShape { ms: *ms }),
        };
        // Plain structs of JSON values: serialising them cannot fail.
        value.unwrap_or(Value::Null)
    }

    /// Read an outcome of `kind` written in `format`.
    pub fn decode(kind: StepKind, format: i64, text: &str) -> Result<Outcome, JournalFormatError> {
        if format > JOURNAL_FORMAT {
            return Err(JournalFormatError::Newer(format));
        }
        if format < 1 {
            return Err(JournalFormatError::Unknown(format));
        }
        let shape = |source| JournalFormatError::Shape {
            kind: kind.as_str(),
            format,
            source,
        };
        Ok(match kind {
            StepKind::Call => Outcome::Call(serde_json::from_str(text).map_err(shape)?),
            StepKind::Inline => {
                let InlineShape { result } = serde_json::from_str(text).map_err(shape)?;
                Outcome::Inline { result }
            }
            StepKind::Sleep => {
                let SleepShape { wake_at } = serde_json::from_str(text).map_err(shape)?;
                Outcome::Sleep { wake_at }
            }
            StepKind::SignalWait => {
                let SignalWaitShape { deadline } = serde_json::from_str(text).map_err(shape)?;
                Outcome::SignalWait { deadline }
            }
            StepKind::Signal => Outcome::Signal(serde_json::from_str(text).map_err(shape)?),
            StepKind::Now => {
                let NowShape { ms } = serde_json::from_str(text).map_err(shape)?;
                Outcome::Now { ms }
            }
        })
    }
}

/// One durable call of an execution, with the answer the workflow saw.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    /// The execution it belongs to.
    pub execution_id: String,
    /// 1, 2, 3, … in the order the workflow made its durable calls.
    pub seq: i64,
    /// The durable call.
    pub step: Step,
    /// Its answer.
    pub outcome: Outcome,
    /// Attempts made.
    pub attempts: i64,
    /// When it started, ms since the Unix epoch.
    pub started_at: i64,
    /// When it was journaled.
    pub finished_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Outcomes exactly as format 1 stored them.
    const FORMAT_1: &[(&str, &str)] = &[
        ("call", r#"{"ok":{"message":"Hello, Ada!"}}"#),
        ("call", r#"{"ok":null}"#),
        (
            "call",
            r#"{"err":{"kind":"trap","message":"the guest trapped: boom","error":null},"retry_at":1795310111737}"#,
        ),
        (
            "call",
            r#"{"err":{"kind":"procedure-error","message":"the procedure returned an error","error":"out of stock"}}"#,
        ),
        ("inline", r#"{"result":[1,2]}"#),
        ("sleep", r#"{"wake_at":1795310111737}"#),
        ("signal-wait", r#"{"deadline":null}"#),
        ("signal-wait", r#"{"deadline":1795310111737}"#),
        ("signal", r#"{"payload":{"approved":true}}"#),
        ("signal", r#"{"payload":null}"#),
        ("signal", r#"{"timeout":true}"#),
        ("now", r#"{"ms":1795310111737}"#),
    ];

    #[test]
    fn format_1_outcomes_read_and_write_back_the_same() {
        for (kind, text) in FORMAT_1 {
            let kind = StepKind::parse(kind).expect("a known kind");
            let outcome = Outcome::decode(kind, 1, text).expect("format 1 reads");
            assert_eq!(outcome.kind(), kind);
            let written: Value = outcome.to_json();
            let stored: Value = serde_json::from_str(text).expect("valid JSON");
            assert_eq!(written, stored, "{kind:?}");
        }
    }

    #[test]
    fn shapes_are_checked_and_newer_formats_refused() {
        let retry = Outcome::decode(
            StepKind::Call,
            1,
            r#"{"err":{"kind":"timeout","message":"m"},"retry_at":5}"#,
        )
        .expect("reads");
        assert_eq!(
            retry,
            Outcome::Call(CallOutcome::Failed {
                err: StepFailure {
                    kind: ErrorKind::Timeout,
                    message: "m".into(),
                    error: None
                },
                retry_at: Some(5)
            })
        );
        assert!(matches!(
            Outcome::decode(StepKind::Sleep, 1, r#"{"ms":3}"#),
            Err(JournalFormatError::Shape { .. })
        ));
        assert!(matches!(
            Outcome::decode(
                StepKind::Call,
                1,
                r#"{"err":{"kind":"no-such-kind","message":""}}"#
            ),
            Err(JournalFormatError::Shape { .. })
        ));
        assert!(matches!(
            Outcome::decode(StepKind::Now, JOURNAL_FORMAT + 1, r#"{"ms":3}"#),
            Err(JournalFormatError::Newer(_))
        ));
        assert_eq!(
            Outcome::Signal(SignalOutcome::Received {
                payload: json!(null)
            })
            .to_json(),
            json!({"payload": null})
        );
    }
}
