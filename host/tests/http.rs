//! The HTTP layer alone: `tsdev::app` called with `tower::ServiceExt::oneshot`, no socket,
//! over a real host on a temporary SQLite store. Problem mapping, request ids, CORS, 405
//! with `Allow`, body limits, and the request's span around what a handler logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;
use tsdev::{AppState, AuthMode, Host, HostConfig, HttpConfig, WorkflowEngine};

/// Everything logged in this test binary, for the span test.
fn captured_log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        struct Writer(Arc<Mutex<Vec<u8>>>);
        impl Write for Writer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let shared = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Writer(shared.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        log
    })
}

/// The API as `tsdev dev` serves it: no keys, everything tenant `default`.
fn keys_off() -> HttpConfig {
    HttpConfig {
        auth: AuthMode::Off,
        ..HttpConfig::default()
    }
}

struct App {
    router: axum::Router,
    _data: tempfile::TempDir,
}

async fn app(config: HttpConfig) -> App {
    captured_log();
    let data = tempfile::tempdir().expect("a temporary directory");
    let host = Host::open(
        &HostConfig {
            data_dir: data.path().to_path_buf(),
            database_url: None,
            secrets_key_file: None,
        },
        tsdev::workflow::IMPORTS,
    )
    .await
    .expect("opening a host");
    let router = tsdev::app(AppState::new(WorkflowEngine::new(host)), &config).expect("the app");
    App {
        router,
        _data: data,
    }
}

async fn send(app: &App, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("an answer");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a body");
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, value)
}

fn is_problem(headers: &axum::http::HeaderMap) -> bool {
    headers[header::CONTENT_TYPE] == "application/problem+json"
}

#[tokio::test]
async fn errors_are_problems_with_the_request_id() {
    let app = app(keys_off()).await;
    let request = Request::get("/rpc-nothing-here")
        .header("x-request-id", "trace-1")
        .body(Body::empty())
        .expect("a request");
    let (status, headers, problem) = send(&app, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(is_problem(&headers));
    assert_eq!(problem["kind"], "not-found");
    assert_eq!(problem["request_id"], "trace-1");
    assert_eq!(headers["x-request-id"], "trace-1");

    // An id that could carry fields of its own is replaced, in the header and the body.
    let request = Request::get("/nope")
        .header("x-request-id", "a b=c")
        .body(Body::empty())
        .expect("a request");
    let (_, headers, problem) = send(&app, request).await;
    let id = headers["x-request-id"].to_str().expect("ASCII");
    assert_ne!(id, "a b=c");
    assert_eq!(problem["request_id"], id);
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let app = app(keys_off()).await;
    let request = Request::get("/rpc/greeter.hello")
        .body(Body::empty())
        .expect("a request");
    let (status, headers, problem) = send(&app, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(is_problem(&headers), "{headers:?}");
    assert_eq!(problem["kind"], "method-not-allowed");
    assert_eq!(headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_too_large() {
    let app = app(keys_off()).await;
    let big = vec![b' '; tsdev::limits::MAX_ARGS_BYTES + 1];
    let request = Request::post("/rpc/greeter.hello")
        .body(Body::from(big))
        .expect("a request");
    let (status, headers, problem) = send(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(is_problem(&headers));
    assert_eq!(problem["kind"], "too-large");

    let request = Request::post("/v1/components?name=x")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("\0asm"))
        .expect("a request");
    let (status, _, problem) = send(&app, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem["kind"], "unsupported-media-type");
}

#[tokio::test]
async fn cors_answers_only_the_origins_allowed() {
    let app = app(HttpConfig {
        cors_origins: vec!["https://app.example".into()],
        ..keys_off()
    })
    .await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/rpc/greeter.hello")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .expect("a request")
    };
    let (_, headers, _) = send(&app, preflight("https://app.example")).await;
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    let (_, headers, _) = send(&app, preflight("https://evil.example")).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn what_a_handler_logs_carries_the_request_id() {
    let app = app(keys_off()).await;
    // An empty component: deployed, with nothing to call. The host logs the deploy.
    let wasm = wat::parse_str("(component)").expect("valid WAT");
    let request = Request::post("/v1/components?name=empty")
        .header(header::CONTENT_TYPE, "application/wasm")
        .header("x-request-id", "deploy-7")
        .body(Body::from(wasm))
        .expect("a request");
    let (status, _, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let log = String::from_utf8_lossy(
        &captured_log()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    let line = log
        .lines()
        .find(|line| line.contains("deployed") && line.contains("component=\"empty\""))
        .or_else(|| {
            log.lines()
                .find(|line| line.contains("deployed") && line.contains("empty"))
        })
        .unwrap_or_else(|| panic!("no deploy line in:\n{log}"));
    assert!(line.contains("request_id=deploy-7"), "{line}");
}

/// A page on another site cannot deploy to a host on localhost: not with an `Origin`, not
/// under a rebound host name, not with a body a form can send; the host's own page can.
#[tokio::test]
async fn pages_on_other_sites_cannot_deploy_or_call() {
    let app = app(HttpConfig {
        loopback_only: true,
        ..keys_off()
    })
    .await;
    let wasm = wat::parse_str("(component)").expect("valid WAT");
    let upload = |name: &str, headers: &[(&str, &str)]| {
        let mut request = Request::post(format!("/v1/components?name={name}"));
        for (header, value) in headers {
            request = request.header(*header, *value);
        }
        request.body(Body::from(wasm.clone())).expect("a request")
    };
    let listed = |app: &App| {
        let request = Request::get("/v1/components")
            .header(header::HOST, "127.0.0.1:3000")
            .body(Body::empty())
            .expect("a request");
        let router = app.router.clone();
        async move {
            let response = router.oneshot(request).await.expect("an answer");
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body");
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };

    let refused = [
        (
            "evil-origin",
            vec![
                ("host", "127.0.0.1:3000"),
                ("origin", "http://evil.example"),
                ("content-type", "application/wasm"),
            ],
            StatusCode::FORBIDDEN,
            "cross-origin",
        ),
        (
            "rebound",
            vec![
                ("host", "evil.example:3000"),
                ("origin", "http://evil.example:3000"),
                ("content-type", "application/wasm"),
            ],
            StatusCode::FORBIDDEN,
            "unknown-host",
        ),
        (
            "no-type",
            vec![("host", "127.0.0.1:3000")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "form",
            vec![("host", "127.0.0.1:3000"), ("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
    ];
    for (name, headers, status, kind) in refused {
        let (got, answer_headers, problem) = send(&app, upload(name, &headers)).await;
        assert_eq!(
            (got, problem["kind"].as_str()),
            (status, Some(kind)),
            "{name}: {problem}"
        );
        assert!(is_problem(&answer_headers));
        assert!(!listed(&app).await.contains(name), "{name} was deployed");
    }

    // The host's own page (same origin) and a client without Origin (curl, the CLI) deploy.
    let own = [
        ("host", "127.0.0.1:3000"),
        ("origin", "http://127.0.0.1:3000"),
        ("content-type", "application/wasm"),
    ];
    let (status, _, body) = send(&app, upload("from-docs", &own)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let curl = [
        ("host", "localhost:3000"),
        ("content-type", "application/wasm"),
    ];
    let (status, _, body) = send(&app, upload("from-curl", &curl)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A form posting to /rpc is refused before any procedure is looked up.
    let request = Request::post("/rpc/greeter.hello")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("name=Ada"))
        .expect("a request");
    let (status, _, problem) = send(&app, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("--json"),
        "{problem}"
    );
}
