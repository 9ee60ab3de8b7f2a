//! A component that calls other procedures through tsdev:host/invoke, for the runtime
//! tests of invocations.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "relay-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
    generate_all,
});

use exports::test::relay::relay::Guest;
use tsdev::host::invoke::{self, InvokeError};

struct Relay;

impl Guest for Relay {
    fn call(procedure: String, args: String) -> Result<String, String> {
        invoke::call(&procedure, &args).map_err(|e| match e {
            InvokeError::NotGranted => "not-granted".to_string(),
            InvokeError::NotFound => "not-found".to_string(),
            InvokeError::InvalidArgs(why) => format!("invalid-args: {why}"),
            InvokeError::ProcedureError(value) => format!("procedure-error: {value}"),
            InvokeError::TooDeep => "too-deep".to_string(),
            InvokeError::Failed(f) => format!("failed: {}: {}", f.kind, f.detail),
        })
    }

    fn deep(level: u32) -> u32 {
        let args = format!("{{\"level\": {}}}", level + 1);
        match invoke::call("relay.deep", &args) {
            Ok(deepest) => deepest.parse().unwrap_or(0),
            Err(InvokeError::TooDeep) => level,
            Err(other) => panic!("relay.deep at level {level}: {other:?}"),
        }
    }
}

export!(Relay);
