//! What Rust guests of tsdev depend on.
//!
//! - [`wit_bindgen`], re-exported: generate your component's bindings with
//!   `sdk_guest::wit_bindgen::generate!({ path: "wit", world: "…", runtime_path: "sdk_guest::wit_bindgen::rt" })`
//!   so that your crate needs no other dependency.
//! - [`workflow`]: durable calls (`call`, `call_with`, `sleep`, `now_ms`) for workflows.
//! - [`context`]: the call's request id and, for workflow steps, its idempotency key.
//! - [`kv`]: key-value buckets (`wasi:keyvalue`), JSON in and out; grant them in
//!   tsdev.toml (`[grants] key-value`).
//! - [`invoke`]: call other procedures of the tenant (`[grants] invoke`).
//! - [`config`]: the component's config values and secrets (`wasi:config`; `[grants]
//!   config`), set with `tsdev config set`.
//! - [`http`]: outbound HTTP requests (`wasi:http`) to the origins granted in tsdev.toml
//!   (`[grants] outbound-http`).
//! - [`log`]: records into the host's log through the `tsdev:host/log` import, tagged by the
//!   host with the request id and procedure. Prefer it to `println!`: stdout also reaches
//!   the host log, but untagged by level and capped per call.
//!
//! # Error conventions
//!
//! - A procedure that can fail returns `result<T, E>` in WIT. `ok` answers `200` with T;
//!   `err` answers `422` with kind `procedure-error` and E (as JSON) in the problem's
//!   `error` member. Make E a `variant` or `enum` so callers can match on it.
//! - A panic is a bug, not an answer: the call fails with kind `trap` (`500`) and the
//!   panic message in the problem's `detail`.
//! - Running out of fuel, memory or time fails the call with `out-of-fuel`,
//!   `memory-limit` or `timeout`; nothing of the instance survives the call.

#![warn(missing_docs)]

pub use wit_bindgen;

// Generated from the WIT, which documents it.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit/host",
        world: "tsdev:host/imports",
    });
}

#[allow(missing_docs)]
mod kv_bindings {
    wit_bindgen::generate!({
        path: "../wit/keyvalue",
        world: "wasi:keyvalue/imports",
    });
}

#[allow(missing_docs)]
mod config_bindings {
    wit_bindgen::generate!({
        path: "../wit/config-rc-1",
        world: "wasi:config/imports",
    });
}

#[allow(missing_docs)]
mod workflow_bindings {
    wit_bindgen::generate!({
        path: "../wit/workflow",
        world: "tsdev:workflow/workflow-imports",
    });
}

pub mod workflow {
    //! Durable calls for workflows: each is journaled by the host, so after a durable sleep
    //! or a crash the workflow is run again from the start and gets the same answers until
    //! it reaches new ground. Keep everything else a workflow does deterministic.
    //!
    //! A component whose code uses these is a workflow component: start its functions with
    //! `POST /v1/workflows/{name}/executions`.

    use crate::workflow_bindings::tsdev::workflow::durable;

    pub use crate::workflow_bindings::tsdev::workflow::durable::{
        RetryPolicy, StepError, StepOptions,
    };

    /// Call `procedure` as a step with a JSON object of arguments; its JSON result.
    pub fn call(procedure: &str, args_json: &str) -> Result<String, StepError> {
        durable::call(procedure, args_json)
    }

    /// Why a typed step failed: the step itself, or its JSON in or out.
    #[derive(Debug)]
    pub enum TypedStepError {
        /// The step failed.
        Step(StepError),
        /// Its arguments did not serialise, or its result did not read as the type asked.
        Json(serde_json::Error),
    }

    impl std::fmt::Display for TypedStepError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                TypedStepError::Step(e) => write!(f, "{}: {}", e.kind, e.message),
                TypedStepError::Json(e) => write!(f, "json: {e}"),
            }
        }
    }

    impl std::error::Error for TypedStepError {}

    /// [`call`] with serde in and out: `args` serialises to the arguments object, the
    /// result deserialises into `R`.
    pub fn call_typed<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        procedure: &str,
        args: &A,
    ) -> Result<R, TypedStepError> {
        let args = serde_json::to_string(args).map_err(TypedStepError::Json)?;
        let result = call(procedure, &args).map_err(TypedStepError::Step)?;
        serde_json::from_str(&result).map_err(TypedStepError::Json)
    }

    /// Several steps at once, each `(procedure, args-json)`; results in the same order.
    pub fn call_all(calls: &[(String, String)]) -> Vec<Result<String, StepError>> {
        durable::call_all(calls)
    }

    /// An inline step: `step` runs once and its result is journaled; a replay gets the
    /// journaled result without running it again. For anything that must not differ
    /// between runs (random numbers, reading the clock, an id) but is not a procedure.
    ///
    /// # Panics
    ///
    /// When `T` does not come back from JSON as it went in (a bug in its serde impls).
    pub fn run<T: serde::Serialize + serde::de::DeserializeOwned>(
        name: &str,
        step: impl FnOnce() -> T,
    ) -> T {
        if let Some(journaled) = durable::inline_begin(name) {
            return serde_json::from_str(&journaled)
                .unwrap_or_else(|e| panic!("inline step {name}: journaled result: {e}"));
        }
        let value = step();
        let json = serde_json::to_string(&value)
            .unwrap_or_else(|e| panic!("inline step {name}: result to JSON: {e}"));
        durable::inline_end(name, &json);
        value
    }

    /// [`call`] with a step name and a retry policy (`None`: the host's default).
    pub fn call_with(
        procedure: &str,
        args_json: &str,
        options: &StepOptions,
    ) -> Result<String, StepError> {
        durable::call_with(procedure, args_json, options)
    }

    /// Wait (durably) for the next signal `name` sent to this execution; its JSON body, or
    /// None when `timeout` passes first.
    pub fn wait_signal(name: &str, timeout: Option<std::time::Duration>) -> Option<String> {
        let timeout_ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        durable::wait_signal(name, timeout_ms)
    }

    /// Sleep durably: the workflow is unloaded and resumed when the time has come.
    pub fn sleep(duration: std::time::Duration) {
        durable::sleep(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    }

    /// Milliseconds since the Unix epoch, the same on every replay.
    pub fn now_ms() -> u64 {
        durable::now()
    }
}

pub mod kv {
    //! Key-value buckets through the standard `wasi:keyvalue` interfaces, kept by the host
    //! per tenant. A component opens only the buckets its tsdev.toml grants:
    //!
    //! ```toml
    //! [grants]
    //! key-value = ["todos"]
    //! ```
    //!
    //! Values are bytes; [`Bucket::get_json`] and [`Bucket::set_json`] keep serde values
    //! as JSON. Counters ([`Bucket::increment`]) are decimal text.

    use crate::kv_bindings::wasi::keyvalue::{atomics, store};

    pub use crate::kv_bindings::wasi::keyvalue::store::Error;

    /// Why a JSON value could not be read or written.
    #[derive(Debug)]
    pub enum JsonError {
        /// The store answered an error.
        Store(Error),
        /// The value did not serialise, or the stored bytes are not JSON of that type.
        Json(serde_json::Error),
    }

    impl std::fmt::Display for JsonError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                JsonError::Store(e) => write!(f, "key-value: {e:?}"),
                JsonError::Json(e) => write!(f, "json: {e}"),
            }
        }
    }

    impl std::error::Error for JsonError {}

    /// An open bucket.
    pub struct Bucket(store::Bucket);

    impl Bucket {
        /// Open bucket `name` (it must be granted: else `Error::AccessDenied`).
        pub fn open(name: &str) -> Result<Bucket, Error> {
            store::open(name).map(Bucket)
        }

        /// The bytes at `key`.
        pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            self.0.get(key)
        }

        /// Set the bytes at `key`.
        pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            self.0.set(key, value)
        }

        /// Delete `key` (nothing when absent).
        pub fn delete(&self, key: &str) -> Result<(), Error> {
            self.0.delete(key)
        }

        /// The value at `key`, read from JSON.
        pub fn get_json<T: serde::de::DeserializeOwned>(
            &self,
            key: &str,
        ) -> Result<Option<T>, JsonError> {
            match self.get(key).map_err(JsonError::Store)? {
                None => Ok(None),
                Some(bytes) => serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(JsonError::Json),
            }
        }

        /// Set the value at `key`, as JSON.
        pub fn set_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), JsonError> {
            let bytes = serde_json::to_vec(value).map_err(JsonError::Json)?;
            self.set(key, &bytes).map_err(JsonError::Store)
        }

        /// Add `delta` to the counter at `key` (absent: 0), atomically; its new value.
        pub fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
            atomics::increment(&self.0, key, delta)
        }

        /// Every key starting with `prefix`, in byte order.
        pub fn keys(&self, prefix: &str) -> Result<Vec<String>, Error> {
            let mut keys = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = self.0.list_keys(cursor.as_deref())?;
                keys.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(keys),
                }
            }
        }
    }
}

pub mod invoke {
    //! Calls of other procedures of the tenant (`tsdev:host/invoke`), each in a fresh
    //! instance under its own limits, within the caller's deadline. Grant them in
    //! tsdev.toml: `[grants] invoke = ["orders.create"]`. Workflows use
    //! [`crate::workflow::call`] instead, which journals the call.

    pub use crate::bindings::tsdev::host::invoke::{Failure, InvokeError};

    /// Call `procedure` with a JSON object of arguments; its JSON result.
    pub fn call(procedure: &str, args_json: &str) -> Result<String, InvokeError> {
        crate::bindings::tsdev::host::invoke::call(procedure, args_json)
    }

    /// Why a typed call failed: the call, or its JSON in or out.
    #[derive(Debug)]
    pub enum TypedInvokeError {
        /// The call failed.
        Invoke(InvokeError),
        /// The arguments did not serialise, or the result did not read as the type asked.
        Json(serde_json::Error),
    }

    impl std::fmt::Display for TypedInvokeError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                TypedInvokeError::Invoke(e) => write!(f, "{e:?}"),
                TypedInvokeError::Json(e) => write!(f, "json: {e}"),
            }
        }
    }

    impl std::error::Error for TypedInvokeError {}

    /// [`call`] with serde in and out.
    pub fn call_typed<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        procedure: &str,
        args: &A,
    ) -> Result<R, TypedInvokeError> {
        let args = serde_json::to_string(args).map_err(TypedInvokeError::Json)?;
        let result = call(procedure, &args).map_err(TypedInvokeError::Invoke)?;
        serde_json::from_str(&result).map_err(TypedInvokeError::Json)
    }
}

pub mod config {
    //! The component's config values and secrets through the standard `wasi:config/store`,
    //! set per component with `tsdev config set` (or `PUT /v1/components/{name}/config`),
    //! seen by the next call without a redeploy. A component reads only the keys its
    //! tsdev.toml grants:
    //!
    //! ```toml
    //! [grants]
    //! config = ["api-url", "api-key"]
    //! ```

    pub use crate::config_bindings::wasi::config::store::Error;

    /// The value of `key`; None when it is not set (or not granted).
    pub fn get(key: &str) -> Result<Option<String>, Error> {
        crate::config_bindings::wasi::config::store::get(key)
    }
}

pub mod http {
    //! Outbound HTTP requests through the standard `wasi:http/outgoing-handler`. They reach
    //! only the origins the component's tsdev.toml grants (scheme, host and port):
    //!
    //! ```toml
    //! [grants]
    //! outbound-http = ["https://api.example.com"]
    //! ```
    //!
    //! A request anywhere else fails with [`ErrorCode::HttpRequestDenied`] and is never
    //! sent. The host's limits (timeouts, response size) are in tsdev's
    //! docs/capabilities.md.

    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    use wasi::io::streams::StreamError;

    pub use wasi::http::types::ErrorCode;

    /// A blocking write takes 4,096 bytes at most.
    const WRITE_CHUNK: usize = 4096;
    /// How much one read asks for.
    const READ_CHUNK: u64 = 64 << 10;

    /// Why a request failed.
    #[derive(Debug)]
    pub enum Error {
        /// The URL is not `http://` or `https://` with a host.
        InvalidUrl(String),
        /// A header name or value the request cannot carry.
        InvalidHeader(String),
        /// The host or the other side failed the exchange (denied, unreachable, timed
        /// out, too large, …).
        Http(ErrorCode),
        /// The body could not be sent or read.
        Body(String),
    }

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Error::InvalidUrl(url) => write!(f, "not an http(s) URL: {url}"),
                Error::InvalidHeader(name) => write!(f, "invalid header {name}"),
                Error::Http(code) => write!(f, "{code:?}"),
                Error::Body(why) => write!(f, "body: {why}"),
            }
        }
    }

    impl std::error::Error for Error {}

    /// A response, read whole.
    #[derive(Debug)]
    pub struct Response {
        /// The status code.
        pub status: u16,
        /// The headers, in order (a name may repeat).
        pub headers: Vec<(String, Vec<u8>)>,
        /// The body.
        pub body: Vec<u8>,
    }

    impl Response {
        /// The body as text (invalid UTF-8 replaced).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// The body read as JSON of type `T`.
        pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
            serde_json::from_slice(&self.body)
        }
    }

    /// `GET url`.
    pub fn get(url: &str) -> Result<Response, Error> {
        request("GET", url, &[], &[])
    }

    /// `POST url` with `value` as a JSON body.
    pub fn post_json<T: serde::Serialize>(url: &str, value: &T) -> Result<Response, Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Body(e.to_string()))?;
        request("POST", url, &[("content-type", "application/json")], &body)
    }

    /// Send `method` to `url` with `headers` and `body`; the whole response.
    pub fn request(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, Error> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(Error::InvalidUrl(url.to_string()));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_string()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() {
            return Err(Error::InvalidUrl(url.to_string()));
        }
        let fields = Fields::new();
        for (name, value) in headers {
            fields
                .append(name, value.as_bytes())
                .map_err(|_| Error::InvalidHeader(name.to_string()))?;
        }
        let request = OutgoingRequest::new(fields);
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        };
        let invalid = || Error::InvalidUrl(url.to_string());
        request.set_method(&method).map_err(|()| invalid())?;
        request.set_scheme(Some(&scheme)).map_err(|()| invalid())?;
        request
            .set_authority(Some(authority))
            .map_err(|()| invalid())?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|()| invalid())?;
        let outgoing = request.body().map_err(|()| Error::Body("taken".into()))?;
        let pending = outgoing_handler::handle(request, None).map_err(Error::Http)?;
        {
            let stream = outgoing.write().map_err(|()| Error::Body("taken".into()))?;
            for piece in body.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(piece)
                    .map_err(|e| Error::Body(format!("{e:?}")))?;
            }
        }
        OutgoingBody::finish(outgoing, None).map_err(Error::Http)?;
        pending.subscribe().block();
        let response = pending
            .get()
            .ok_or_else(|| Error::Body("no response".into()))?
            .map_err(|()| Error::Body("response taken".into()))?
            .map_err(Error::Http)?;
        let status = response.status();
        let headers = response.headers().entries().into_iter().collect::<Vec<_>>();
        let incoming = response
            .consume()
            .map_err(|()| Error::Body("taken".into()))?;
        let mut read = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| Error::Body("taken".into()))?;
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(bytes) => read.extend_from_slice(&bytes),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(Error::Body(e.to_debug_string()));
                    }
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body: read,
        })
    }
}

pub mod context {
    //! What a procedure can learn about the call it is serving.

    /// The request id: the caller's `X-Request-Id`, or one the host made.
    pub fn request_id() -> String {
        crate::bindings::tsdev::host::context::request_id()
    }

    /// For a call made as a workflow step: `{execution id}:{step sequence}`, the same for
    /// every attempt of the step. Keep it with a side effect to do the effect once when a
    /// crash or a retry runs the step again. None outside workflows.
    pub fn idempotency_key() -> Option<String> {
        crate::bindings::tsdev::host::context::idempotency_key()
    }
}

pub mod log {
    //! Records into the host's log.

    pub use crate::bindings::tsdev::host::log::Level;

    /// Write one record at `level`.
    pub fn log(level: Level, message: &str) {
        crate::bindings::tsdev::host::log::log(level, message);
    }

    /// A `trace` record.
    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }

    /// A `debug` record.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    /// An `info` record.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// A `warn` record.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    /// An `error` record.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// `info!("format {}", args)`: [`log::info`] with `format!` arguments.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// `warn!("format {}", args)`: [`log::warn`] with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// `error!("format {}", args)`: [`log::error`] with `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
