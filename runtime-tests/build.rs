//! Build the guest components the tests deploy, with plain `cargo build --target
//! wasm32-wasip2` (no tsdev involved), and write their paths into `$OUT_DIR/guests.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (constant name, crate directory relative to the repository root).
/// The `flows` workflows call the `hello` example's procedure.
const GUESTS: &[(&str, &str)] = &[
    ("HELLO", "examples/hello"),
    ("TYPES", "examples/types"),
    ("HOSTILE", "runtime-tests/guests/hostile"),
    ("FLOWS", "runtime-tests/guests/flows"),
    ("CATALOG", "runtime-tests/guests/catalog"),
    ("KEEPER", "runtime-tests/guests/keeper"),
    ("FETCHER", "runtime-tests/guests/fetcher"),
    ("RELAY", "runtime-tests/guests/relay"),
    ("SETTINGS", "runtime-tests/guests/settings"),
    ("WEB", "runtime-tests/guests/web"),
    ("SHOP", "examples/shop"),
    ("ORDER", "examples/order"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("runtime-tests sits in the repository root")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out_dir.join("guests-target");

    for watched in ["examples", "runtime-tests/guests", "sdk-guest", "wit"] {
        for entry in walk(&root.join(watched)) {
            println!("cargo:rerun-if-changed={}", entry.display());
        }
    }

    // `cargo clippy` runs build scripts too; it needs the constants, not the guests.
    let under_clippy = std::env::var("RUSTC_WORKSPACE_WRAPPER").is_ok_and(|w| w.contains("clippy"));
    if !under_clippy {
        ensure_target();
    }
    let mut constants = String::new();
    for (constant, dir) in GUESTS {
        let crate_dir = root.join(dir);
        if !under_clippy {
            build(&crate_dir, &target_dir);
        }
        let name = crate_name(&crate_dir);
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{name}.wasm"));
        constants.push_str(&format!(
            "/// The `{dir}` component.\npub const {constant}: &str = {:?};\n",
            wasm.display().to_string()
        ));
    }
    constants.push_str(&format!(
        "/// The target directory the guests are built in (`tsdev build` reuses it).\npub const TARGET_DIR: &str = {:?};\n/// The repository root.\npub const ROOT: &str = {:?};\n",
        target_dir.display().to_string(),
        root.display().to_string()
    ));
    std::fs::write(out_dir.join("guests.rs"), constants).expect("writing guests.rs");
}

fn ensure_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(true);
    if !installed {
        let status = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed"
        );
    }
}

fn build(crate_dir: &Path, target_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir);
    // What the outer build sets for itself must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo to build a guest");
    assert!(
        status.success(),
        "building the guest {} failed",
        crate_dir.display()
    );
}

fn crate_name(crate_dir: &Path) -> String {
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml"))
        .expect("reading a guest's Cargo.toml");
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a guest's Cargo.toml names its package")
        .replace('-', "_")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
