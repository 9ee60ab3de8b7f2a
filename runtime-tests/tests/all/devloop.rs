//! The developer loop with the real binary: `tsdev init` -> build -> deploy -> call,
//! `tsdev dev` picking up an edit, and the generated TypeScript client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runtime_tests::{TestHost, guests, npm_package, run, tsdev_bin};
use serde_json::{Value, json};

/// The TypeScript compiler the client is checked with, from npm, pinned.
const TYPESCRIPT: &str = "5.9.3";

fn scratch() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// One target directory for every crate `tsdev init` makes here, so wit-bindgen is built
/// once.
fn init_target_dir() -> PathBuf {
    scratch().join("init-target")
}

/// `tsdev ARGS` in `dir`; panics with the output when it fails; returns stdout.
fn tsdev(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(tsdev_bin())
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", init_target_dir())
        .stdin(Stdio::null())
        .output()
        .expect("running tsdev");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "tsdev {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn get_text(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn init_build_deploy_and_call_every_template() {
    let work = tempfile::tempdir().expect("a temporary directory");
    tsdev(work.path(), &["init", "greeter-app"]);
    tsdev(work.path(), &["init", "later", "--template", "workflow"]);
    tsdev(work.path(), &["init", "site", "--template", "http"]);
    let refused = Command::new(tsdev_bin())
        .args(["init", "greeter-app"])
        .current_dir(work.path())
        .output()
        .expect("running tsdev");
    assert!(
        !refused.status.success(),
        "init refuses a non-empty directory"
    );

    // The crate's own test passes on the host target, also after the edit the README
    // suggests (`Hello` to `Howdy`), made here and undone.
    let app = work.path().join("greeter-app");
    let cargo_test_in = |app: &Path| {
        run(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["test", "--quiet", "--manifest-path"])
                .arg(app.join("Cargo.toml"))
                .env("CARGO_TARGET_DIR", init_target_dir()),
        )
    };
    let cargo_test = || cargo_test_in(&app);
    cargo_test();
    cargo_test_in(&work.path().join("site"));
    let lib = app.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("reading lib.rs");
    std::fs::write(&lib, source.replace("format!(\"Hello,", "format!(\"Howdy,")).expect("editing");
    cargo_test();
    std::fs::write(&lib, &source).expect("undoing the edit");

    let host = TestHost::start();
    for name in ["greeter-app", "later", "site"] {
        let built = tsdev(&work.path().join(name), &["build"]);
        let wasm = built
            .lines()
            .find_map(|l| l.strip_prefix("built ")?.split(" as ").next())
            .expect("tsdev build names the component")
            .to_string();
        // No --name: the manifest names the component.
        let key = host.admin_key.as_deref().expect("keys are required");
        let deployed = tsdev(
            work.path(),
            &["deploy", &wasm, "--url", &host.url, "--api-key", key],
        );
        assert!(
            deployed.contains(&format!("deployed {name} ")),
            "{deployed}"
        );
    }
    let (status, greeting) = get_text(&format!("{}/greeter-app/hello/Ada", host.url)).await;
    assert_eq!((status, greeting), (200, json!("Hello, Ada!")));
    let (status, body) = host.rpc("greeter-app.hello", json!({ "name": "Bo" })).await;
    assert_eq!((status, body), (200, json!("Hello, Bo!")));

    // The http template: a wasi:http component under its prefix, no key needed.
    let page = reqwest::get(format!("{}/site/hello/Ada", host.url))
        .await
        .expect("GET");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.text().await.expect("text"), "hello, Ada!\n");

    // The Python template: its plain test, then `tsdev build` with componentize-py on
    // PATH, as its README says.
    tsdev(work.path(), &["init", "py-app", "--template", "python"]);
    let py_app = work.path().join("py-app");
    run(Command::new("python3")
        .arg("test_app.py")
        .current_dir(&py_app));
    let venv =
        runtime_tests::python_venv(scratch(), "componentize-py", crate::python::COMPONENTIZE_PY);
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let built = Command::new(tsdev_bin())
        .arg("build")
        .current_dir(&py_app)
        .env("PATH", path)
        .output()
        .expect("tsdev build");
    let stdout = String::from_utf8_lossy(&built.stdout);
    assert!(
        built.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(stdout.contains("py-app.hello"), "{stdout}");
    let key = host.admin_key.as_deref().expect("keys are required");
    let wasm = py_app.join("target/py-app.wasm");
    let deployed = tsdev(
        work.path(),
        &[
            "deploy",
            wasm.to_str().expect("utf-8"),
            "--url",
            &host.url,
            "--api-key",
            key,
        ],
    );
    assert!(deployed.contains("deployed py-app "), "{deployed}");
    let (status, greeting) = get_text(&format!("{}/py-app/hello/Ada", host.url)).await;
    assert_eq!((status, greeting), (200, json!("Hello, Ada!")));

    // The workflow template: a durable sleep, then an answer, over its REST route.
    let response = host
        .client
        .post(format!("{}/later/greet-later", host.url))
        .body(json!({ "name": "Ada", "wait-ms": 200 }).to_string())
        .send()
        .await
        .expect("starting the workflow");
    assert_eq!(response.status().as_u16(), 200);
    let message: Value = response.json().await.expect("JSON");
    let message = message.as_str().unwrap_or_default().to_string();
    assert!(message.starts_with("Hello, Ada! (after "), "{message}");
    let waited: u64 = message
        .trim_start_matches("Hello, Ada! (after ")
        .trim_end_matches(" ms)")
        .parse()
        .expect("a number of ms");
    assert!(waited >= 200, "the durable sleep lasted {waited} ms");

    // The workflow template from the CLI, as a person follows it: start one that sleeps
    // long, see its steps in `workflow status`, cancel it and see what it had done.
    let key = host.admin_key.as_deref().expect("keys are required");
    let cli = |args: &[&str]| {
        let mut all = vec!["workflow"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--url", &host.url, "--api-key", key]);
        tsdev(work.path(), &all)
    };
    let id = cli(&[
        "start",
        "later.greet-later",
        r#"{"name": "Ada", "wait-ms": 600000}"#,
    ])
    .trim()
    .to_string();
    assert_eq!(id.len(), 36, "an execution id: {id}");
    let sleeping = runtime_tests::cluster::eventually(
        "the workflow sleeps",
        std::time::Duration::from_secs(30),
        || async {
            let shown = cli(&["status", &id]);
            shown
                .lines()
                .next()
                .is_some_and(|l| l.ends_with("sleeping"))
                .then_some(shown)
        },
    )
    .await;
    assert!(
        sleeping
            .lines()
            .any(|l| l.contains("sleep") && l.contains("until")),
        "the status shows the sleep step: {sleeping}"
    );
    let cancelled = cli(&["cancel", &id]);
    assert!(cancelled.starts_with("cancelled\n"), "{cancelled}");
    assert!(
        cancelled.lines().any(|l| l.contains("sleep")),
        "the cancel shows the steps it had made: {cancelled}"
    );
}

#[tokio::test]
async fn tsdev_dev_redeploys_an_edited_crate() {
    let work = tempfile::tempdir().expect("a temporary directory");
    tsdev(work.path(), &["init", "devloop"]);
    let app = work.path().join("devloop");
    let data = work.path().join("data");
    let mut child = Command::new(tsdev_bin())
        .arg("dev")
        .arg(&app)
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("CARGO_TARGET_DIR", init_target_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tsdev dev");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().expect("piped");
    let _child = KillOnDrop(child);
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let seen = std::cell::RefCell::new(Vec::new());
    let wait_for = |what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(300);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) => {
                    seen.borrow_mut().push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("tsdev dev never printed {what:?}");
    };
    let url = wait_for("listening on ")
        .trim_start_matches("listening on ")
        .trim()
        .to_string();
    wait_for("is live");
    let route = format!("{url}/devloop/hello/Ada");
    assert_eq!(get_text(&route).await, (200, json!("Hello, Ada!")));
    // The build is checked once, by the deploy: `tsdev build`'s own check (which prints
    // "built … as NAME") does not run before it.
    assert!(
        !seen.borrow().iter().any(|l| l.starts_with("built ")),
        "{:?}",
        seen.borrow()
    );
    // Left alone, the loop stays idle: no rebuild without an edit (it once rebuilt about
    // four times a second, taking the build's own reads of the crate for changes).
    let quiet = |seconds: u64| -> Vec<String> {
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut printed = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if let Ok(line) = lines.recv_timeout(left) {
                printed.push(line);
            }
        }
        printed
    };
    let idle = quiet(5);
    assert!(
        !idle
            .iter()
            .any(|l| l.contains("rebuilding") || l.contains("is live")),
        "an idle dev loop rebuilt: {idle:?}"
    );

    let lib = app.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("reading lib.rs");
    assert!(source.contains("format!(\"Hello, {name}!\")"));
    std::fs::write(&lib, source.replace("Hello, {name}!", "Howdy, {name}!")).expect("editing");
    wait_for("change detected");
    wait_for("is live");
    assert_eq!(get_text(&route).await, (200, json!("Howdy, Ada!")));
    // One save, one rebuild: nothing more follows it.
    let after = quiet(5);
    assert!(
        !after.iter().any(|l| l.contains("rebuilding")),
        "one save gave more than one rebuild: {after:?}"
    );

    // A broken edit is reported and the last good version keeps serving.
    std::fs::write(&lib, "this is not Rust").expect("breaking lib.rs");
    wait_for("last good version keeps serving");
    assert_eq!(get_text(&route).await, (200, json!("Howdy, Ada!")));

    let (_, document) = get_text(&format!("{url}/openapi.json")).await;
    assert!(document["paths"]["/devloop/hello/{name}"]["get"].is_object());
}

#[tokio::test]
async fn the_typescript_client_type_checks_and_calls_a_live_host() {
    let host = TestHost::start();
    assert_eq!(host.deploy("types", guests::TYPES).await.0, 201);
    host.deploy_built("runtime-tests/guests/catalog").await;

    let work = tempfile::tempdir().expect("a temporary directory");
    let dir = work.path();
    tsdev(
        dir,
        &[
            "generate",
            "client",
            "--lang",
            "typescript",
            "--url",
            &host.url,
            "-o",
            "client.ts",
        ],
    );
    let client = std::fs::read_to_string(dir.join("client.ts")).expect("the client");
    assert!(
        !client.contains("itemsInternal"),
        "private procedures are left out"
    );
    std::fs::write(
        dir.join("main.ts"),
        r#"import { Client, TsdevError, ItemsGetResult } from "./client";

async function main(): Promise<void> {
  const client = new Client(process.argv[2]);
  const item: ItemsGetResult = await client.itemsGet({ id: 5 });
  const total: number = Number(item["price-cents"]) + item.id;
  const created = await client.itemsCreate({ name: "lamp", "price-cents": 2500, tags: ["home"] });
  let kind = "none";
  try {
    await client.itemsGet({ id: 0 });
  } catch (e) {
    if (e instanceof TsdevError) {
      kind = `${e.status} ${e.problem.kind} ${String(e.problem.error)}`;
    }
  }
  console.log(JSON.stringify({ name: item.name, total, created: created.name, kind }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#,
    )
    .expect("writing main.ts");
    // Declarations for the two Node globals main.ts uses, instead of @types/node.
    std::fs::write(
        dir.join("node.d.ts"),
        "declare const process: { argv: string[]; exit(code: number): never };\n",
    )
    .expect("writing node.d.ts");
    let tsc = npm_package(scratch(), "typescript", TYPESCRIPT).join("bin/tsc");
    let compile = |files: &[&str]| {
        Command::new("node")
            .arg(&tsc)
            .args(["--strict", "--target", "es2022", "--module", "commonjs"])
            .args(["--lib", "es2022,dom", "--outDir", "out"])
            .args(files)
            .current_dir(dir)
            .output()
            .expect("running tsc")
    };
    let compiled = compile(&["client.ts", "main.ts", "node.d.ts"]);
    assert!(
        compiled.status.success(),
        "tsc: {}",
        String::from_utf8_lossy(&compiled.stdout)
    );
    let output = Command::new("node")
        .arg(dir.join("out/main.js"))
        .arg(&host.url)
        .output()
        .expect("running node");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value =
        serde_json::from_slice(&output.stdout).expect("main.js prints one JSON line");
    assert_eq!(
        printed,
        json!({
            "name": "item 5",
            "total": 505,
            "created": "lamp",
            "kind": "422 procedure-error there is no item 0",
        })
    );

    // The types are real: a wrong argument type does not compile.
    std::fs::write(
        dir.join("wrong.ts"),
        "import { Client } from \"./client\";\nnew Client(\"http://x\").itemsGet({ id: \"five\" });\n",
    )
    .expect("writing wrong.ts");
    let wrong = compile(&["client.ts", "wrong.ts"]);
    assert!(!wrong.status.success(), "tsc accepted a string for a u32");
    assert!(
        String::from_utf8_lossy(&wrong.stdout).contains("wrong.ts"),
        "the error points at wrong.ts"
    );
}
