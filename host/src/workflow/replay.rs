//! One run of a workflow: its journal, where the replay stands in it, and what the
//! `durable` imports do, answering from the journal or, on new ground, acting and
//! journaling. A [`Replay`] is the run's [`CallExtension`]: it also makes the instance's
//! clocks and randomness deterministic and stops the run's deadline during durable calls.

use std::any::Any;
use std::sync::Arc;

use serde_json::Value;
use wasmtime_wasi::WasiCtxBuilder;

use super::determinism::{
    FrozenMonotonicClock, FrozenWallClock, JournalPosition, ReplayRng, seed_of,
};
use super::interrupt::WorkflowInterrupt;
use super::retry::StepOptions;
use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::host::{CallError, Host};
use crate::limits;
use crate::runtime::{CallContext, CallExtension, PausedTime};
use crate::store::journal::{CallOutcome, SignalOutcome, StepFailure};
use crate::store::{Holder, JournalEntry, Outcome, Step, StepKind};

/// The workflow side of one run's `StoreState`.
pub(crate) struct Replay {
    pub(super) host: Arc<Host>,
    /// The execution's tenant: its steps call that tenant's procedures.
    pub(super) tenant: String,
    pub(super) execution_id: String,
    /// This node's claim on the execution: the store refuses journal writes from anyone
    /// else, and from this node once it has lost the claim.
    pub(super) holder: Holder,
    pub(super) journal: Vec<JournalEntry>,
    /// Index of the next journal entry to replay; `cursor + 1` is the next sequence.
    pub(super) cursor: usize,
    /// The cursor as the instance's deterministic WASI randomness sees it.
    pub(super) position: JournalPosition,
    /// When the execution was created: the instance's WASI wall clock stands there.
    pub(super) created_at: i64,
    /// Time spent in durable calls, which the run's own deadline does not count.
    pub(super) durable_time: PausedTime,
}

impl CallExtension for Replay {
    fn configure_wasi(&self, wasi: &mut WasiCtxBuilder) {
        let id = &self.execution_id;
        let created =
            std::time::Duration::from_millis(u64::try_from(self.created_at).unwrap_or_default());
        wasi.secure_random(ReplayRng::new(id, "secure", self.position.clone()))
            .insecure_random(ReplayRng::new(id, "insecure", self.position.clone()))
            .insecure_random_seed(seed_of(id))
            .wall_clock(FrozenWallClock(created))
            .monotonic_clock(FrozenMonotonicClock);
    }

    fn paused_time(&self) -> Option<PausedTime> {
        Some(self.durable_time.clone())
    }

    fn is_interrupt(&self, error: &wasmtime::Error) -> bool {
        error.is::<WorkflowInterrupt>()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn failure(kind: ErrorKind, message: String) -> CallOutcome {
    CallOutcome::Failed {
        err: StepFailure {
            kind,
            message,
            error: None,
        },
        retry_at: None,
    }
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Replay {
    /// The journaled outcome of `step` when the replay has not reached new ground yet;
    /// a journal entry that differs from `step` is non-determinism.
    fn replayed(&mut self, step: &Step) -> Result<Option<Outcome>, WorkflowInterrupt> {
        let Some(entry) = self.journal.get(self.cursor) else {
            return Ok(None);
        };
        if entry.step != *step {
            let show = |s: &Step| format!("{} {} {}", s.kind.as_str(), s.name, s.request);
            return Err(WorkflowInterrupt::NonDeterminism {
                seq: entry.seq,
                journaled: show(&entry.step),
                asked: show(step),
            });
        }
        self.cursor += 1;
        self.position.advance();
        Ok(Some(entry.outcome.clone()))
    }

    /// Refuse a step at sequence `seq` before it runs, when the journal is full or its
    /// request is over the payload limit: nothing is done that cannot be journaled.
    fn check_room(&self, seq: usize, step: &Step) -> Result<(), WorkflowInterrupt> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        if seq > limits::MAX_JOURNAL_ENTRIES {
            return Err(WorkflowInterrupt::Limit {
                kind: ErrorKind::JournalLimit,
                message: format!(
                    "the execution has {} journal entries, the most one may have; step {seq} ({} {}) was not made",
                    limits::MAX_JOURNAL_ENTRIES,
                    step.kind.as_str(),
                    step.name
                ),
            });
        }
        check_payload(seq, step, step.request.to_string().len())
    }

    /// Journal `step` with `outcome` as the next entry; committed before the guest sees it.
    async fn record(
        &mut self,
        step: Step,
        outcome: Outcome,
        started_at: i64,
        attempt: u32,
    ) -> Result<Outcome, WorkflowInterrupt> {
        let seq = self.cursor + 1;
        self.check_room(seq, &step)?;
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        check_payload(seq, &step, outcome.to_json().to_string().len())?;
        let entry = JournalEntry {
            execution_id: self.execution_id.clone(),
            seq,
            step,
            outcome,
            attempts: i64::from(attempt),
            started_at,
            finished_at: now_ms(),
        };
        self.host
            .store()
            .append_journal(&entry, &self.holder)
            .await
            .map_err(|e| WorkflowInterrupt::Journal(e.to_string()))?;
        let outcome = entry.outcome.clone();
        let took = entry.finished_at.saturating_sub(entry.started_at).max(0) as f64 / 1_000.0;
        crate::metrics::metrics()
            .step_duration
            .get_or_create(&crate::metrics::StepLabels {
                kind: entry.step.kind.as_str().to_string(),
            })
            .observe(took);
        self.journal.push(entry);
        self.cursor += 1;
        self.position.advance();
        Ok(outcome)
    }

    /// `durable.call`: a procedure call as a step.
    ///
    /// Every attempt is a journal entry. An attempt that failed transiently and will be
    /// retried also holds `retry_at`: the replay waits for that time as for a durable sleep
    /// (suspending the run), then makes the next attempt.
    pub(super) async fn call(
        &mut self,
        procedure: String,
        args_json: String,
        options: StepOptions,
    ) -> Result<CallOutcome, WorkflowInterrupt> {
        let args: Value = match serde_json::from_str(&args_json) {
            Ok(args) => args,
            // Nothing was called, so there is nothing to journal: the same bad input fails
            // the same way on every replay.
            Err(e) => {
                return Ok(failure(
                    ErrorKind::InvalidArgs,
                    format!("the arguments are not valid JSON: {e}"),
                ));
            }
        };
        // A named step records which procedure it calls, so a change of procedure is still
        // caught as non-determinism.
        let step = match options.name {
            Some(name) if name != procedure => Step {
                kind: StepKind::Call,
                name,
                request: serde_json::json!({ "procedure": procedure, "args": args }),
            },
            _ => Step {
                kind: StepKind::Call,
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
                match call_outcome(outcome)? {
                    CallOutcome::Failed {
                        retry_at: Some(retry_at),
                        ..
                    } => {
                        // The last journaled attempt waits for its retry; later ones ran.
                        if self.cursor == self.journal.len() && now_ms() < retry_at {
                            return Err(WorkflowInterrupt::Suspend { wake_at: retry_at });
                        }
                        continue;
                    }
                    done => return Ok(done),
                }
            }
            self.check_room(self.cursor + 1, &step)?;
            let started_at = now_ms();
            let mut outcome = step_outcome(
                &self.host,
                &self.tenant,
                &procedure,
                &args,
                idempotency_key.clone(),
            )
            .await;
            let transient =
                matches!(&outcome, CallOutcome::Failed { err, .. } if err.kind.is_transient());
            if !transient || attempt >= policy.max_attempts {
                let recorded = self
                    .record(step, Outcome::Call(outcome), started_at, attempt)
                    .await?;
                return call_outcome(recorded);
            }
            let wait =
                millis(u64::try_from(policy.wait_after(attempt).as_millis()).unwrap_or(u64::MAX));
            let retry_at = now_ms().saturating_add(wait);
            if let CallOutcome::Failed { retry_at: at, .. } = &mut outcome {
                *at = Some(retry_at);
            }
            self.record(step.clone(), Outcome::Call(outcome), started_at, attempt)
                .await?;
            if now_ms() < retry_at {
                return Err(WorkflowInterrupt::Suspend { wake_at: retry_at });
            }
        }
    }

    /// `durable.call-all`: steps run concurrently, journaled in the order asked. A replay
    /// answers the journaled ones; the rest (new ground) run together, once every one of
    /// them is known to fit the journal.
    pub(super) async fn call_all(
        &mut self,
        calls: Vec<(String, String)>,
    ) -> Result<Vec<CallOutcome>, WorkflowInterrupt> {
        let mut outcomes: Vec<Option<CallOutcome>> = vec![None; calls.len()];
        let mut new_ground = Vec::new();
        for (i, (procedure, args_json)) in calls.into_iter().enumerate() {
            let args: Value = match serde_json::from_str(&args_json) {
                Ok(args) => args,
                Err(e) => {
                    outcomes[i] = Some(failure(
                        ErrorKind::InvalidArgs,
                        format!("the arguments are not valid JSON: {e}"),
                    ));
                    continue;
                }
            };
            let step = Step {
                kind: StepKind::Call,
                name: procedure,
                request: args,
            };
            // Once the journal has run out, every later step is new ground too.
            if !new_ground.is_empty() {
                new_ground.push((i, step));
            } else if let Some(outcome) = self.replayed(&step)? {
                outcomes[i] = Some(call_outcome(outcome)?);
            } else {
                new_ground.push((i, step));
            }
        }
        let first_seq = self.cursor + 1;
        for (k, (_, step)) in new_ground.iter().enumerate() {
            self.check_room(first_seq + k, step)?;
        }
        let started_at = now_ms();
        let runs = new_ground.iter().enumerate().map(|(k, (_, step))| {
            let (host, tenant) = (self.host.clone(), self.tenant.clone());
            let key = format!("{}:{}", self.execution_id, first_seq + k);
            let (procedure, args) = (step.name.clone(), step.request.clone());
            async move { step_outcome(&host, &tenant, &procedure, &args, key).await }
        });
        let results = futures::future::join_all(runs).await;
        for ((i, step), outcome) in new_ground.into_iter().zip(results) {
            let recorded = self
                .record(step, Outcome::Call(outcome), started_at, 1)
                .await?;
            outcomes[i] = Some(call_outcome(recorded)?);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| failure(ErrorKind::Internal, "no outcome".into())))
            .collect())
    }

    fn inline_step(name: String) -> Step {
        Step {
            kind: StepKind::Inline,
            name,
            request: Value::Null,
        }
    }

    /// `durable.inline-begin`: the journaled result of inline step `name`, when the replay
    /// is at it; None on new ground (the guest runs the step and calls `inline_end`).
    pub(super) fn inline_begin(
        &mut self,
        name: String,
    ) -> Result<Option<String>, WorkflowInterrupt> {
        match self.replayed(&Replay::inline_step(name))? {
            None => Ok(None),
            Some(Outcome::Inline { result }) => Ok(Some(result.to_string())),
            Some(other) => Err(mismatch(self.cursor, &other)),
        }
    }

    /// `durable.inline-end`: journal inline step `name`'s result. Called during a replay
    /// (the guest ran the step although the journal had it), the journal's result stands.
    pub(super) async fn inline_end(
        &mut self,
        name: String,
        result: Value,
    ) -> Result<(), WorkflowInterrupt> {
        let step = Replay::inline_step(name);
        if self.replayed(&step)?.is_none() {
            let now = now_ms();
            self.record(step, Outcome::Inline { result }, now, 1)
                .await?;
        }
        Ok(())
    }

    /// `durable.sleep`: journal the wake time, then suspend until it has come.
    pub(super) async fn sleep(&mut self, ms: u64) -> Result<(), WorkflowInterrupt> {
        let step = Step {
            kind: StepKind::Sleep,
            name: "sleep".into(),
            request: serde_json::json!({ "ms": ms }),
        };
        let wake_at = match self.replayed(&step)? {
            Some(Outcome::Sleep { wake_at }) => wake_at,
            Some(other) => return Err(mismatch(self.cursor, &other)),
            None => {
                let now = now_ms();
                let wake_at = now.saturating_add(millis(ms));
                self.record(step, Outcome::Sleep { wake_at }, now, 1)
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
    pub(super) async fn wait_signal(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> Result<Option<String>, WorkflowInterrupt> {
        let begin = Step {
            kind: StepKind::SignalWait,
            name: name.clone(),
            request: serde_json::json!({ "timeout_ms": timeout_ms }),
        };
        let deadline = match self.replayed(&begin)? {
            Some(Outcome::SignalWait { deadline }) => deadline,
            Some(other) => return Err(mismatch(self.cursor, &other)),
            None => {
                let now = now_ms();
                let deadline = timeout_ms.map(|ms| now.saturating_add(millis(ms)));
                self.record(begin, Outcome::SignalWait { deadline }, now, 1)
                    .await?;
                deadline
            }
        };
        let receive = Step {
            kind: StepKind::Signal,
            name: name.clone(),
            request: Value::Null,
        };
        let outcome = match self.replayed(&receive)? {
            Some(Outcome::Signal(outcome)) => outcome,
            Some(other) => return Err(mismatch(self.cursor, &other)),
            None => {
                let now = now_ms();
                let seq = i64::try_from(self.cursor + 1).unwrap_or(i64::MAX);
                let claimed = self
                    .host
                    .store()
                    .claim_signal(&self.execution_id, &name, seq)
                    .await
                    .map_err(|e| WorkflowInterrupt::Journal(e.to_string()))?;
                let outcome = match claimed {
                    Some(payload) => SignalOutcome::Received {
                        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                    },
                    None if deadline.is_some_and(|d| now >= d) => {
                        SignalOutcome::TimedOut { timeout: true }
                    }
                    None => {
                        return Err(WorkflowInterrupt::WaitSignal {
                            name,
                            wake_at: deadline,
                        });
                    }
                };
                self.record(receive, Outcome::Signal(outcome.clone()), now, 1)
                    .await?;
                outcome
            }
        };
        Ok(match outcome {
            SignalOutcome::Received { payload } => Some(payload.to_string()),
            SignalOutcome::TimedOut { .. } => None,
        })
    }

    /// `durable.now`: the time, journaled.
    pub(super) async fn now(&mut self) -> Result<u64, WorkflowInterrupt> {
        let step = Step {
            kind: StepKind::Now,
            name: "now".into(),
            request: Value::Null,
        };
        match self.replayed(&step)? {
            Some(Outcome::Now { ms }) => Ok(ms),
            Some(other) => Err(mismatch(self.cursor, &other)),
            None => {
                let now = now_ms();
                let ms = u64::try_from(now).unwrap_or_default();
                self.record(step, Outcome::Now { ms }, now, 1).await?;
                Ok(ms)
            }
        }
    }
}

/// Refuse a step whose request or outcome is `bytes` of JSON over the payload limit.
fn check_payload(seq: i64, step: &Step, bytes: usize) -> Result<(), WorkflowInterrupt> {
    if bytes > limits::MAX_STEP_PAYLOAD_BYTES {
        return Err(WorkflowInterrupt::Limit {
            kind: ErrorKind::PayloadTooLarge,
            message: format!(
                "step {seq} ({} {}) has {bytes} bytes of JSON, over the limit of {} per step",
                step.kind.as_str(),
                step.name,
                limits::MAX_STEP_PAYLOAD_BYTES
            ),
        });
    }
    Ok(())
}

/// A journaled outcome of the wrong kind for its step: the steps were compared, so only a
/// corrupt journal gets here.
fn mismatch(cursor: usize, outcome: &Outcome) -> WorkflowInterrupt {
    WorkflowInterrupt::NonDeterminism {
        seq: i64::try_from(cursor).unwrap_or(i64::MAX),
        journaled: format!("a {} outcome", outcome.kind().as_str()),
        asked: "another kind of step".into(),
    }
}

fn call_outcome(outcome: Outcome) -> Result<CallOutcome, WorkflowInterrupt> {
    match outcome {
        Outcome::Call(call) => Ok(call),
        other => Err(mismatch(0, &other)),
    }
}

/// Call `procedure` as a step whose idempotency key is `key`.
async fn step_outcome(
    host: &Host,
    tenant: &str,
    procedure: &str,
    args: &Value,
    key: String,
) -> CallOutcome {
    let context = CallContext::new(key.clone(), Some(key));
    match host.call_current(tenant, procedure, args, &context).await {
        Ok(output) => CallOutcome::Ok {
            ok: serde_json::from_slice::<Value>(&output.body).unwrap_or(Value::Null),
        },
        Err(error) => CallOutcome::Failed {
            err: step_failure(&error),
            retry_at: None,
        },
    }
}

/// A failed call as a step failure. A procedure's own error `unavailable` (the string, or
/// a variant case of that name) is kind `unavailable`: transient, so retried.
fn step_failure(error: &CallError) -> StepFailure {
    let (kind, error_value) = match error {
        CallError::NotFound(_) => (ErrorKind::NotFound, None),
        CallError::InvalidArgs(_) => (ErrorKind::InvalidArgs, None),
        CallError::ProcedureError(value) => {
            let unavailable =
                value.as_str() == Some("unavailable") || value.get("unavailable").is_some();
            let kind = if unavailable {
                ErrorKind::Unavailable
            } else {
                ErrorKind::ProcedureError
            };
            (kind, Some(value.clone()))
        }
        CallError::Failure(failure) => (failure.kind(), None),
        CallError::Quota(_) => (ErrorKind::QuotaExceeded, None),
    };
    StepFailure {
        kind,
        message: error.to_string(),
        error: error_value,
    }
}
