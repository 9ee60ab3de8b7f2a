//! The `tsdev` command line, run as a real process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tsdev(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsdev"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running tsdev")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the repo root")
        .to_path_buf()
}

#[test]
fn errors_are_printed_with_their_causes() {
    // Nothing listens on port 9 of localhost.
    let out = tsdev(&["call", "greeter.hello", "{}", "--url", "http://127.0.0.1:9"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: calling http://127.0.0.1:9/rpc/greeter.hello"),
        "{stderr}"
    );
    assert!(stderr.contains("caused by:"), "{stderr}");
    // Nobody answers: the CLI says what to do.
    assert!(
        stderr.contains("hint: no tsdev host answers") && stderr.contains("tsdev serve"),
        "{stderr}"
    );

    let out = tsdev(&["call", "greeter.hello", "{not json"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("the arguments are not valid JSON"));

    let out = tsdev(&["deploy", "/nonexistent/x.wasm", "--name", "x"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("reading /nonexistent/x.wasm") && stderr.contains("caused by:"),
        "{stderr}"
    );

    let empty = tempfile::tempdir().expect("tempdir");
    let out = tsdev(&["build", empty.path().to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("has no Cargo.toml"));

    // A file that is not WebAssembly is named as such, before anything else is tried.
    let readme = repo_root().join("README.md");
    let out = tsdev(&["deploy", readme.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {} is not WebAssembly", readme.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("hint:"), "{stderr}");
}

/// build -> serve -> deploy -> call, all through the CLI.
#[test]
fn build_deploy_and_call_through_the_cli() {
    let hello = repo_root().join("examples/hello");
    let out = tsdev(&["build", hello.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("greeter.hello  func(name: string)"),
        "{stdout}"
    );
    let wasm = hello.join("target/wasm32-wasip2/release/hello.wasm");
    assert!(wasm.exists());
    // From inside the crate, as cargo does: the nearest Cargo.toml upward.
    let out = tsdev(&["build", hello.join("src").to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("greeter.hello  func(name: string)"),
        "{}",
        text(&out.stdout)
    );

    let data = tempfile::tempdir().expect("tempdir");
    let mut server = Command::new(env!("CARGO_BIN_EXE_tsdev"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tsdev serve");
    let url = {
        use std::io::BufRead;
        let stdout = server.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("serve prints its address")
                .expect("utf-8 line");
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_string();
            }
        };
        // Keep reading: the host prints more after its address.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        url
    };
    // Keys are required: without one the deploy is refused...
    let out = tsdev(&[
        "deploy",
        wasm.to_str().expect("utf-8 path"),
        "--name",
        "hello",
        "--url",
        &url,
        "--data",
        "/nonexistent",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unauthenticated"),
        "{}",
        text(&out.stderr)
    );
    // ...and on loopback the CLI takes the admin key the host made in its data directory.
    let out = tsdev(&[
        "deploy",
        wasm.to_str().expect("utf-8 path"),
        "--name",
        "hello",
        "--url",
        &url,
        "--data",
        data.path().to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deployed hello version "));
    // A crate directory is built, then deployed under its manifest's name.
    let out = tsdev(&[
        "deploy",
        hello.to_str().expect("utf-8 path"),
        "--url",
        &url,
        "--data",
        data.path().to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("deployed hello version "),
        "{}",
        text(&out.stdout)
    );

    let out = tsdev(&["call", "greeter.hello", r#"{"name": "CLI"}"#, "--url", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    assert_eq!(
        result,
        serde_json::json!({ "message": "Hello, CLI!", "name-length": 3 })
    );

    let out = tsdev(&["procedures", "--url", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("greeter.hello  (hello)  func(name: string)"),
        "{}",
        text(&out.stdout)
    );

    let openapi = data.path().join("openapi.json");
    let out = tsdev(&[
        "generate",
        "openapi",
        "--url",
        &url,
        "--output",
        openapi.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&openapi).expect("written")).expect("JSON");
    assert!(
        document["paths"]["/rpc/greeter.hello"]["post"].is_object(),
        "{document}"
    );

    // A problem answer is printed with its kind, and the exit code says failure.
    let out = tsdev(&["call", "greeter.hello", r#"{"name": 5}"#, "--url", &url]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("400 Bad Request invalid-args"),
        "{}",
        text(&out.stderr)
    );

    let _ = server.kill();
    let _ = server.wait();
}

/// A port already taken: the error says where, and the hint names --listen.
#[test]
fn serve_on_a_taken_port_suggests_another_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address").to_string();
    let data = tempfile::tempdir().expect("tempdir");
    let out = tsdev(&[
        "serve",
        "--listen",
        &address,
        "--data",
        data.path().to_str().expect("utf-8 path"),
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("error: listening on {address}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint:") && stderr.contains("--listen"),
        "{stderr}"
    );
}

#[test]
fn serve_help_does_not_show_the_database_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_tsdev"))
        .args(["serve", "--help"])
        .env("TSDEV_DATABASE_URL", "postgres://tsdev:hunter2@db/tsdev")
        .stdin(Stdio::null())
        .output()
        .expect("running tsdev");
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(help.contains("TSDEV_DATABASE_URL"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}

#[test]
fn serve_keeps_serving_when_its_stdout_is_closed() {
    use std::io::{Read, Write};
    // A free port, known before the host starts: its banner cannot be read.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = Command::new(env!("CARGO_BIN_EXE_tsdev"))
        .args(["serve", "--listen", &address, "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tsdev serve");
    // Whoever started it stops reading at once: every line it prints meets a closed pipe.
    drop(server.stdout.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answer = loop {
        if let Ok(mut connection) = std::net::TcpStream::connect(&address) {
            connection
                .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("a request");
            let mut answer = String::new();
            connection.read_to_string(&mut answer).expect("an answer");
            break answer;
        }
        assert!(
            matches!(server.try_wait(), Ok(None)),
            "the host exited: {:?}",
            server.try_wait()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the host never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// `tsdev serve --print-config`: what is in force, from a flag, then its `TSDEV_*`
/// variable, then `--config FILE`, then the default; secrets hidden. Every serve flag has a
/// variable, and a file with an unknown setting is refused naming it.
#[test]
fn serve_settings_come_from_flags_variables_a_file_and_defaults_in_that_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tsdev.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:4000\"\ndata = \"/from/file\"\nretain-executions = \"7d\"\n\
         cors-origin = [\"https://a.example\", \"https://b.example\"]\n\
         database-url = \"postgres://tsdev:hunter2@db/tsdev\"\ninsecure-no-auth = false\n",
    )
    .expect("writing the file");
    let print = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tsdev"))
            .args(["serve", "--print-config"])
            .args(args)
            .envs(env.iter().copied())
            .env_remove("TSDEV_DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .expect("running tsdev");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed: toml::Table = toml::from_str(&text(&out.stdout)).expect("TOML");
        printed
    };
    let defaults = print(&[], &[]);
    assert_eq!(defaults["listen"].as_str(), Some("127.0.0.1:3000"));
    assert!(
        !defaults.contains_key("otlp-endpoint"),
        "no traces by default"
    );
    assert_eq!(defaults["retain-executions"].as_str(), Some("30d"));
    assert_eq!(defaults["retain-audit"].as_str(), Some("365d"));
    assert_eq!(defaults["traces-per-second"].as_integer(), Some(100));

    let file_arg = file.to_str().expect("utf-8 path");
    let from_file = print(
        &["--config", file_arg],
        &[("TSDEV_RETAIN_AUDIT", "forever")],
    );
    assert_eq!(from_file["listen"].as_str(), Some("0.0.0.0:4000"));
    assert_eq!(from_file["retain-executions"].as_str(), Some("7d"));
    assert_eq!(
        from_file["retain-audit"].as_str(),
        Some("forever"),
        "the variable"
    );
    assert_eq!(
        from_file["cors-origin"].as_array().map(Vec::len),
        Some(2),
        "{from_file}"
    );
    assert_eq!(
        from_file["database-url"].as_str(),
        Some("postgres://tsdev:***@db/tsdev"),
        "the password is not shown"
    );
    let traced = print(
        &[],
        &[("TSDEV_OTLP_ENDPOINT", "http://otel:s3cret@collector:4318")],
    );
    assert_eq!(
        traced["otlp-endpoint"].as_str(),
        Some("http://otel:***@collector:4318"),
        "{traced}"
    );
    let budget = print(&["--traces-per-second", "5"], &[]);
    assert_eq!(budget["traces-per-second"].as_integer(), Some(5));
    let out = tsdev(&["serve", "--print-config", "--traces-per-second", "0"]);
    assert!(!out.status.success(), "no budget at all is refused");

    // The variable over the file, the flag over both; TSDEV_CONFIG names the file too.
    let overridden = print(
        &["--data", "/from/flag"],
        &[
            ("TSDEV_CONFIG", file_arg),
            ("TSDEV_LISTEN", "127.0.0.1:5000"),
            ("TSDEV_DATA", "/from/variable"),
        ],
    );
    assert_eq!(overridden["listen"].as_str(), Some("127.0.0.1:5000"));
    assert_eq!(overridden["data"].as_str(), Some("/from/flag"));
    assert_eq!(overridden["retain-executions"].as_str(), Some("7d"));

    std::fs::write(&file, "listn = \"0.0.0.0:1\"\n").expect("writing the file");
    let out = tsdev(&["serve", "--config", file_arg]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown setting \"listn\"") && stderr.contains("listen"),
        "{stderr}"
    );

    // Every flag of serve can come from the environment: its help names the variable.
    let help = text(&tsdev(&["serve", "--help"]).stdout);
    for flag in [
        "listen",
        "data",
        "database-url",
        "deploy",
        "cors-origin",
        "admin-key-file",
        "secrets-key-file",
        "insecure-no-auth",
        "log-format",
        "retain-executions",
        "retain-audit",
        "config",
    ] {
        // The flag's entry: its line and those after it, up to the next flag's.
        let is_flag_line = |line: &str, flag: &str| {
            let line = line.trim();
            line == format!("--{flag}") || line.starts_with(&format!("--{flag} "))
        };
        let entry: String = help
            .lines()
            .skip_while(|line| !is_flag_line(line, flag))
            .enumerate()
            .take_while(|(i, line)| *i == 0 || !line.trim_start().starts_with("--"))
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        assert!(!entry.is_empty(), "--{flag} in serve --help:\n{help}");
        assert!(entry.contains("[env: TSDEV_"), "--{flag}: {entry}");
    }
}
