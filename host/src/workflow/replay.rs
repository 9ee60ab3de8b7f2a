//! One run of a workflow: its journal, where the replay stands in it, and the `durable`
//! host imports that answer from the journal or, on new ground, act and journal.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::host::{CallError, Host};
use crate::limits;
use crate::runtime::CallContext;
use crate::runtime::failure::WorkflowInterrupt;
use crate::store::JournalEntry;
use crate::workflow::determinism::JournalPosition;
use crate::workflow::retry::{StepOptions, is_transient};

/// The workflow side of one run's `StoreState`.
pub struct Replay {
    pub host: Arc<Host>,
    pub execution_id: String,
    /// This host's lease owner id: the store refuses journal writes from anyone else.
    pub owner: String,
    pub journal: Vec<JournalEntry>,
    /// Index of the next journal entry to replay; `cursor + 1` is the next sequence.
    pub cursor: usize,
    /// The cursor as the instance's deterministic WASI randomness sees it.
    pub position: JournalPosition,
    /// When the execution was created: the instance's WASI wall clock stands there.
    pub created_at: i64,
    /// Time spent in durable calls, which the run's own deadline does not count.
    pub durable_time: DurableTime,
}

/// Time a run spent in durable calls: its steps (each under its own limits), retries,
/// journal commits. A workflow's wall-clock limit is for its own code, so a run's deadline
/// moves on by this much, and stands still while a durable call is under way. Shared with
/// the run's deadline checks.
#[derive(Clone, Debug, Default)]
pub struct DurableTime(Arc<Mutex<DurableClock>>);

#[derive(Debug, Default)]
struct DurableClock {
    /// Durable calls that have ended.
    ended: Duration,
    /// When the durable call under way began.
    since: Option<Instant>,
}

impl DurableTime {
    /// Run `work`, a durable call, counting its time.
    pub async fn timed<T>(&self, work: impl Future<Output = T>) -> T {
        self.clock().since = Some(Instant::now());
        let output = work.await;
        let mut clock = self.clock();
        if let Some(since) = clock.since.take() {
            clock.ended += since.elapsed();
        }
        output
    }

    /// Time in durable calls so far, the one under way included.
    pub fn total(&self) -> Duration {
        let clock = self.clock();
        clock.ended + clock.since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, DurableClock> {
        // Two plain fields: consistent whatever a panicking holder did.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a durable call asked for, and the answer it got.
#[derive(Clone)]
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
        self.position.advance();
        Ok(Some(parse(&entry.outcome)))
    }

    /// Journal `step` with `outcome` as the next entry; committed before the guest sees it.
    pub async fn record(
        &mut self,
        step: Step,
        outcome: Value,
        started_at: i64,
    ) -> Result<Value, WorkflowInterrupt> {
        self.record_attempt(step, outcome, started_at, 1).await
    }

    /// [`Self::record`] for attempt number `attempt` of a step.
    async fn record_attempt(
        &mut self,
        step: Step,
        outcome: Value,
        started_at: i64,
        attempt: u32,
    ) -> Result<Value, WorkflowInterrupt> {
        let seq = self.cursor as i64 + 1;
        if seq > limits::MAX_JOURNAL_ENTRIES {
            return Err(WorkflowInterrupt::Limit {
                kind: "journal-limit",
                message: format!(
                    "the execution has {} journal entries, the most one may have; step {} ({} {}) was not made",
                    limits::MAX_JOURNAL_ENTRIES,
                    seq,
                    step.kind,
                    step.name
                ),
            });
        }
        let (request_text, outcome_text) = (step.request.to_string(), outcome.to_string());
        let largest = request_text.len().max(outcome_text.len());
        if largest > limits::MAX_STEP_PAYLOAD_BYTES {
            return Err(WorkflowInterrupt::Limit {
                kind: "payload-too-large",
                message: format!(
                    "step {seq} ({} {}) has {} bytes of JSON, over the limit of {} per step",
                    step.kind,
                    step.name,
                    largest,
                    limits::MAX_STEP_PAYLOAD_BYTES
                ),
            });
        }
        let entry = JournalEntry {
            execution_id: self.execution_id.clone(),
            seq,
            kind: step.kind.to_string(),
            name: step.name,
            request: request_text,
            outcome: outcome_text,
            attempts: i64::from(attempt),
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
        self.position.advance();
        Ok(outcome)
    }

    /// `durable.call`: a procedure call as a step. The outcome is `{"ok": result}` or
    /// `{"err": {"kind", "message", "error"}}`.
    ///
    /// Every attempt is a journal entry. An attempt that failed transiently and will be
    /// retried also holds `retry_at`: the replay waits for that time as for a durable sleep
    /// (suspending the run), then makes the next attempt.
    pub async fn call(
        &mut self,
        procedure: String,
        args_json: String,
        options: StepOptions,
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
        // A named step records which procedure it calls, so a change of procedure is still
        // caught as non-determinism.
        let step = match options.name {
            Some(name) if name != procedure => Step {
                kind: "call",
                name,
                request: json!({ "procedure": procedure, "args": args }),
            },
            _ => Step {
                kind: "call",
                name: procedure.clone(),
                request: args.clone(),
            },
        };
        let policy = options.retry;
        // Every attempt of a step carries the same idempotency key: the sequence of its
        // first attempt.
        let idempotency_key = format!("{}:{}", self.execution_id, self.cursor + 1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(outcome) = self.replayed(&step)? {
                let Some(retry_at) = outcome.get("retry_at").and_then(Value::as_i64) else {
                    return Ok(outcome);
                };
                // The last journaled attempt waits for its retry; later ones ran already.
                if self.cursor == self.journal.len() && now_ms() < retry_at {
                    return Err(WorkflowInterrupt::Suspend { wake_at: retry_at });
                }
                continue;
            }
            let started_at = now_ms();
            let mut outcome =
                step_outcome(&self.host, &procedure, &args, idempotency_key.clone()).await;
            let transient = outcome["err"]["kind"].as_str().is_some_and(is_transient);
            if !transient || attempt >= policy.max_attempts {
                return self
                    .record_attempt(step, outcome, started_at, attempt)
                    .await;
            }
            let retry_at = now_ms().saturating_add(policy.wait_after(attempt).as_millis() as i64);
            outcome["retry_at"] = json!(retry_at);
            self.record_attempt(step.clone(), outcome, started_at, attempt)
                .await?;
            if now_ms() < retry_at {
                return Err(WorkflowInterrupt::Suspend { wake_at: retry_at });
            }
        }
    }

    /// `durable.call-all`: steps run concurrently, journaled in the order asked. A replay
    /// answers the journaled ones; the rest (new ground) run together.
    pub async fn call_all(
        &mut self,
        calls: Vec<(String, String)>,
    ) -> Result<Vec<Value>, WorkflowInterrupt> {
        let mut outcomes: Vec<Option<Value>> = vec![None; calls.len()];
        let mut new_ground = Vec::new();
        for (i, (procedure, args_json)) in calls.into_iter().enumerate() {
            let args: Value = match serde_json::from_str(&args_json) {
                Ok(args) => args,
                Err(e) => {
                    outcomes[i] = Some(
                        json!({ "err": { "kind": "invalid-args", "message": format!("the arguments are not valid JSON: {e}") } }),
                    );
                    continue;
                }
            };
            let step = Step {
                kind: "call",
                name: procedure,
                request: args,
            };
            // Once the journal has run out, every later step is new ground too.
            if !new_ground.is_empty() {
                new_ground.push((i, step));
            } else if let Some(outcome) = self.replayed(&step)? {
                outcomes[i] = Some(outcome);
            } else {
                new_ground.push((i, step));
            }
        }
        let started_at = now_ms();
        let first_seq = self.cursor + 1;
        let runs = new_ground.iter().enumerate().map(|(k, (_, step))| {
            let host = self.host.clone();
            let key = format!("{}:{}", self.execution_id, first_seq + k);
            let (procedure, args) = (step.name.clone(), step.request.clone());
            async move { step_outcome(&host, &procedure, &args, key).await }
        });
        let results = futures::future::join_all(runs).await;
        for ((i, step), outcome) in new_ground.into_iter().zip(results) {
            outcomes[i] = Some(self.record(step, outcome, started_at).await?);
        }
        Ok(outcomes
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    /// `durable.inline-begin`: the journaled result of inline step `name`, when the replay
    /// is at it; None on new ground (the guest runs the step and calls `inline_end`).
    pub fn inline_begin(&mut self, name: String) -> Result<Option<String>, WorkflowInterrupt> {
        let step = Step {
            kind: "inline",
            name,
            request: Value::Null,
        };
        Ok(self
            .replayed(&step)?
            .map(|outcome| outcome["result"].to_string()))
    }

    /// `durable.inline-end`: journal inline step `name`'s result. Called during a replay
    /// (the guest ran the step although the journal had it), the journal's result stands.
    pub async fn inline_end(
        &mut self,
        name: String,
        result: Value,
    ) -> Result<(), WorkflowInterrupt> {
        let step = Step {
            kind: "inline",
            name,
            request: Value::Null,
        };
        if self.replayed(&step)?.is_none() {
            let now = now_ms();
            self.record(step, json!({ "result": result }), now).await?;
        }
        Ok(())
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

    /// `durable.wait-signal`: the JSON payload of the next signal `name` sent to this
    /// execution, or None after `timeout_ms`. Two entries: `signal-wait` journals the
    /// deadline when the wait begins (so a restart keeps it), `signal` what it received.
    pub async fn wait_signal(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> Result<Option<String>, WorkflowInterrupt> {
        let begin = Step {
            kind: "signal-wait",
            name: name.clone(),
            request: json!({ "timeout_ms": timeout_ms }),
        };
        let deadline = match self.replayed(&begin)? {
            Some(outcome) => outcome["deadline"].as_i64(),
            None => {
                let now = now_ms();
                let deadline =
                    timeout_ms.map(|ms| now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
                self.record(begin, json!({ "deadline": deadline }), now)
                    .await?;
                deadline
            }
        };
        let receive = Step {
            kind: "signal",
            name: name.clone(),
            request: Value::Null,
        };
        let outcome = match self.replayed(&receive)? {
            Some(outcome) => outcome,
            None => {
                let now = now_ms();
                let seq = self.cursor as i64 + 1;
                let claimed = self
                    .host
                    .store()
                    .claim_signal(&self.execution_id, &name, seq)
                    .await
                    .map_err(|e| WorkflowInterrupt::Journal(e.to_string()))?;
                match claimed {
                    Some(payload) => {
                        self.record(receive, json!({ "payload": parse(&payload) }), now)
                            .await?
                    }
                    None if deadline.is_some_and(|d| now >= d) => {
                        self.record(receive, json!({ "timeout": true }), now)
                            .await?
                    }
                    None => {
                        return Err(WorkflowInterrupt::WaitSignal {
                            name,
                            wake_at: deadline,
                        });
                    }
                }
            }
        };
        Ok(outcome.get("payload").map(Value::to_string))
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

/// Call `procedure` as a step whose idempotency key is `key`: `{"ok": result}` or the
/// failure as [`step_error`] gives it.
async fn step_outcome(host: &Host, procedure: &str, args: &Value, key: String) -> Value {
    let context = CallContext {
        request_id: key.clone(),
        idempotency_key: Some(key),
    };
    match host.call(procedure, args, &context).await {
        Ok(output) => {
            json!({ "ok": serde_json::from_slice::<Value>(&output.body).unwrap_or(Value::Null) })
        }
        Err(error) => step_error(&error),
    }
}

/// A failed call as a step outcome. A procedure's own error `unavailable` (the string, or a
/// variant case of that name) is kind `unavailable`: transient, so retried.
fn step_error(error: &CallError) -> Value {
    let (kind, error_value) = match error {
        CallError::NotFound(_) => ("not-found", None),
        CallError::InvalidArgs(_) => ("invalid-args", None),
        CallError::ProcedureError(value) => {
            let unavailable =
                value.as_str() == Some("unavailable") || value.get("unavailable").is_some();
            let kind = if unavailable {
                "unavailable"
            } else {
                "procedure-error"
            };
            (kind, Some(value.clone()))
        }
        CallError::Failure(failure) => (failure.kind(), None),
    };
    json!({ "err": { "kind": kind, "message": error.to_string(), "error": error_value } })
}
