//! {{name}}: tsdev workflows. Each function of the `{{name}}` interface in
//! `wit/world.wit` is a durable workflow: start it with
//! `POST /v1/workflows/{{name}}.FUNCTION/executions` (or wait for it with `POST /rpc/…`).
//!
//! Only what goes through `sdk_guest::workflow` (steps, sleeps, signals, the time) may
//! differ between runs: the host replays the function from its journal after a sleep or a
//! crash. Call procedures of other components as steps with
//! `workflow::call("iface.func", json)` (docs/workflows.md in the tsdev repository).

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "{{name}}-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use std::time::Duration;

use exports::local::{{snake}}::{{snake}}::Guest;
use sdk_guest::workflow;

struct Component;

impl Guest for Component {
    fn greet_later(name: String, wait_ms: u64) -> Result<String, String> {
        let started = workflow::now_ms();
        workflow::sleep(Duration::from_millis(wait_ms));
        let woke = workflow::now_ms();
        Ok(message(&name, woke.saturating_sub(started)))
    }
}

/// Plain Rust, so `cargo test` checks it without a host.
fn message(name: &str, waited_ms: u64) -> String {
    format!("Hello, {name}! (after {waited_ms} ms)")
}

export!(Component);

#[cfg(test)]
mod tests {
    #[test]
    fn the_message_names_the_wait() {
        assert_eq!(super::message("Ada", 5), "Hello, Ada! (after 5 ms)");
    }
}
