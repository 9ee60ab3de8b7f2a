//! Output for people: relative times, short durations, aligned tables and a step
//! timeline of an execution. Commands print these by default and JSON with `--json`.

use serde_json::Value;

use crate::api::{ExecutionInfo, StepInfo};

/// `then` (ms since the Unix epoch) said against `now`: `12 s ago`, `in 3 min`.
pub(super) fn relative(then: i64, now: i64) -> String {
    let delta = now - then;
    if delta.abs() < 1_000 {
        return "just now".into();
    }
    let span = duration(delta.unsigned_abs());
    if delta > 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// `ms` milliseconds, short: `340 ms`, `1.2 s`, `4 min`, `2 h 5 min`, `3 d`.
pub(super) fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => {
            let tenths = ms / 100;
            if tenths.is_multiple_of(10) || ms >= 10_000 {
                format!("{} s", ms / 1_000)
            } else {
                format!("{}.{} s", tenths / 10, tenths % 10)
            }
        }
        60_000..3_600_000 => format!("{} min", ms / 60_000),
        3_600_000..86_400_000 => {
            let minutes = (ms % 3_600_000) / 60_000;
            match minutes {
                0 => format!("{} h", ms / 3_600_000),
                m => format!("{} h {m} min", ms / 3_600_000),
            }
        }
        _ => format!("{} d", ms / 86_400_000),
    }
}

/// Rows as columns padded to their widest cell (the last column is not padded).
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// JSON on one line, cut to `max` characters.
pub(super) fn short_json(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// What a journaled step answered, in a few words.
pub(super) fn outcome(step: &StepInfo, now: i64) -> String {
    let outcome = &step.outcome;
    if let Some(ok) = outcome.get("ok") {
        return format!("ok {}", short_json(ok, 50));
    }
    if let Some(err) = outcome.get("err") {
        let kind = err.get("kind").and_then(Value::as_str);
        return match kind {
            Some(kind) => format!("error {kind}"),
            None => format!("error {}", short_json(err, 50)),
        };
    }
    if let Some(wake_at) = outcome.get("wake_at").and_then(Value::as_i64) {
        return format!("until {}", relative(wake_at, now));
    }
    short_json(outcome, 60)
}

/// One step as a line of the timeline.
pub(super) fn step_line(step: &StepInfo, now: i64) -> Vec<String> {
    let took = duration(u64::try_from(step.finished_at - step.started_at).unwrap_or(0));
    let attempts = if step.attempts > 1 {
        format!("{took}, {} attempts", step.attempts)
    } else {
        took
    };
    vec![
        step.seq.to_string(),
        step.kind.as_str().to_string(),
        step.name.clone(),
        attempts,
        outcome(step, now),
    ]
}

/// An execution with its steps, for `workflow status` and `workflow cancel`.
pub(super) fn execution(e: &ExecutionInfo, now: i64) -> String {
    let mut out = format!(
        "{}  {}  {}\n  started {}",
        e.id,
        e.workflow,
        e.status.as_str(),
        relative(e.created_at, now)
    );
    if e.status.is_finished() {
        out.push_str(&format!(
            ", ended {} (took {})",
            relative(e.updated_at, now),
            duration(u64::try_from(e.updated_at - e.created_at).unwrap_or(0))
        ));
    } else if let Some(wake_at) = e.wake_at {
        out.push_str(&format!(", due again {}", relative(wake_at, now)));
    }
    out.push_str(&format!("\n  args: {}", short_json(&e.args, 100)));
    if !e.result.is_null() {
        out.push_str(&format!("\n  result: {}", short_json(&e.result, 200)));
    }
    if !e.error.is_null() {
        out.push_str(&format!("\n  error: {}", short_json(&e.error, 200)));
    }
    if e.steps.is_empty() {
        out.push_str("\n  no steps journaled");
    } else {
        let rows: Vec<Vec<String>> = e.steps.iter().map(|s| step_line(s, now)).collect();
        let steps = table(&["#", "KIND", "NAME", "TOOK", "OUTCOME"], &rows);
        for line in steps.lines() {
            out.push_str("\n  ");
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_as_people_say_them() {
        assert_eq!(duration(340), "340 ms");
        assert_eq!(duration(1_250), "1.2 s");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(4 * 60_000 + 5), "4 min");
        assert_eq!(duration(2 * 3_600_000 + 5 * 60_000), "2 h 5 min");
        assert_eq!(duration(3 * 86_400_000), "3 d");
        assert_eq!(relative(1_000, 13_000), "12 s ago");
        assert_eq!(relative(200_000, 20_000), "in 3 min");
        assert_eq!(relative(5, 10), "just now");
    }

    #[test]
    fn tables_align_their_columns() {
        let out = table(
            &["ID", "STATUS", "WORKFLOW"],
            &[
                vec!["a".into(), "completed".into(), "x".into()],
                vec!["bbbb".into(), "sleeping".into(), "y".into()],
            ],
        );
        assert_eq!(
            out,
            "ID    STATUS     WORKFLOW\na     completed  x\nbbbb  sleeping   y"
        );
        assert_eq!(short_json(&serde_json::json!("abcdefgh"), 5), "\"abc…");
    }
}
