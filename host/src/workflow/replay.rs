//! One run of a workflow: its journal, where the replay stands in it, and the `durable`
//! host imports that answer from the journal or, on new ground, act and journal.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::host::{CallError, Host};
use crate::runtime::CallContext;
use crate::runtime::failure::WorkflowInterrupt;
use crate::store::JournalEntry;

/// The workflow side of one run's `StoreState`.
pub struct Replay {
    pub host: Arc<Host>,
    pub execution_id: String,
    /// This host's lease owner id: the store refuses journal writes from anyone else.
    pub owner: String,
    pub journal: Vec<JournalEntry>,
    /// Index of the next journal entry to replay; `cursor + 1` is the next sequence.
    pub cursor: usize,
}

/// What a durable call asked for, and the answer it got.
pub struct Step {
    pub kind: &'static str,
    pub name: String,
    pub request: Value,
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl Replay {
    /// The journaled outcome of `step` when the replay has not reached new ground yet;
    /// a journal entry that differs from `step` is non-determinism.
    pub fn replayed(&mut self, step: &Step) -> Result<Option<Value>, WorkflowInterrupt> {
        let Some(entry) = self.journal.get(self.cursor) else {
            return Ok(None);
        };
        let same = entry.kind == step.kind
            && entry.name == step.name
            && parse(&entry.request) == step.request;
        if !same {
            return Err(WorkflowInterrupt::NonDeterminism {
                seq: entry.seq,
                journaled: format!("{} {} {}", entry.kind, entry.name, entry.request),
                asked: format!("{} {} {}", step.kind, step.name, step.request),
            });
        }
        self.cursor += 1;
        Ok(Some(parse(&entry.outcome)))
    }

    /// Journal `step` with `outcome` as the next entry; committed before the guest sees it.
    pub async fn record(
        &mut self,
        step: Step,
        outcome: Value,
        started_at: i64,
    ) -> Result<Value, WorkflowInterrupt> {
        let entry = JournalEntry {
            execution_id: self.execution_id.clone(),
            seq: self.cursor as i64 + 1,
            kind: step.kind.to_string(),
            name: step.name,
            request: step.request.to_string(),
            outcome: outcome.to_string(),
            attempts: 1,
            started_at,
            finished_at: now_ms(),
        };
        self.host
            .store()
            .append_journal(&entry, &self.owner)
            .await
            .map_err(|e| WorkflowInterrupt::Journal(e.to_string()))?;
        self.journal.push(entry);
        self.cursor += 1;
        Ok(outcome)
    }

    /// `durable.call`: a procedure call as a step. The outcome is `{"ok": result}` or
    /// `{"err": {"kind", "message", "error"}}`.
    pub async fn call(
        &mut self,
        procedure: String,
        args_json: String,
    ) -> Result<Value, WorkflowInterrupt> {
        let args: Value = match serde_json::from_str(&args_json) {
            Ok(args) => args,
            // Nothing was called, so there is nothing to journal: the same bad input fails
            // the same way on every replay.
            Err(e) => {
                return Ok(
                    json!({ "err": { "kind": "invalid-args", "message": format!("the arguments are not valid JSON: {e}") } }),
                );
            }
        };
        let step = Step {
            kind: "call",
            name: procedure.clone(),
            request: args.clone(),
        };
        if let Some(outcome) = self.replayed(&step)? {
            return Ok(outcome);
        }
        let started_at = now_ms();
        let seq = self.cursor + 1;
        let context = CallContext {
            request_id: format!("{}:{seq}", self.execution_id),
        };
        let outcome = match self.host.call(&procedure, &args, &context).await {
            Ok(output) => {
                json!({ "ok": serde_json::from_slice::<Value>(&output.body).unwrap_or(Value::Null) })
            }
            Err(error) => {
                let (kind, error_value) = match &error {
                    CallError::NotFound(_) => ("not-found", None),
                    CallError::InvalidArgs(_) => ("invalid-args", None),
                    CallError::ProcedureError(value) => ("procedure-error", Some(value.clone())),
                    CallError::Failure(failure) => (failure.kind(), None),
                };
                json!({ "err": { "kind": kind, "message": error.to_string(), "error": error_value } })
            }
        };
        self.record(step, outcome, started_at).await
    }

    /// `durable.sleep`: journal the wake time, then suspend until it has come.
    pub async fn sleep(&mut self, ms: u64) -> Result<(), WorkflowInterrupt> {
        let step = Step {
            kind: "sleep",
            name: "sleep".into(),
            request: json!({ "ms": ms }),
        };
        let wake_at = match self.replayed(&step)? {
            Some(outcome) => outcome["wake_at"].as_i64().unwrap_or(0),
            None => {
                let now = now_ms();
                let wake_at = now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
                self.record(step, json!({ "wake_at": wake_at }), now)
                    .await?;
                wake_at
            }
        };
        if now_ms() >= wake_at {
            Ok(())
        } else {
            Err(WorkflowInterrupt::Suspend { wake_at })
        }
    }

    /// `durable.now`: the time, journaled.
    pub async fn now(&mut self) -> Result<u64, WorkflowInterrupt> {
        let step = Step {
            kind: "now",
            name: "now".into(),
            request: Value::Null,
        };
        let outcome = match self.replayed(&step)? {
            Some(outcome) => outcome,
            None => {
                let now = now_ms();
                self.record(step, json!({ "ms": now }), now).await?
            }
        };
        Ok(outcome["ms"].as_u64().unwrap_or(0))
    }
}
