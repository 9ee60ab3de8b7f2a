//! `tsdev init`: a new guest crate from a template, ready to build and deploy.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::registry::check_name;

/// Create a component crate NAME (in ./NAME, or --path): WIT, Rust code, tsdev.toml, a
/// README and a test. It builds and deploys unchanged.
#[derive(Args)]
pub(super) struct InitCommand {
    /// The component's name: lowercase words of letters and digits joined by '-'.
    name: String,
    /// What the component holds.
    #[arg(long, value_enum, default_value_t = Template::Procedure)]
    template: Template,
    /// Where to create it (default: ./NAME). Must not exist or be empty.
    #[arg(long)]
    path: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Template {
    /// Procedures called over RPC and REST.
    Procedure,
    /// A durable workflow (steps, durable sleeps).
    Workflow,
    /// A wasi:http component (`wasi:http/incoming-handler`) served under a path.
    Http,
    /// Procedures in Python, built with componentize-py.
    Python,
}

const CARGO_TOML: &str = include_str!("templates/common/Cargo.toml.in");
const GITIGNORE: &str = include_str!("templates/common/gitignore");
/// What a Python project keeps out of git: the build's output, caches, and the bindings
/// `componentize-py bindings` writes when asked.
const PYTHON_GITIGNORE: &str = "/target\n/.tsdev\n__pycache__/\n/wit_world/\n";

/// The guest SDK, vendored into every crate (`sdk-guest/`): what docs/ teaches for Rust
/// guests then works in a crate outside this repository, with crates.io alone.
const SDK_CARGO_TOML: &str = include_str!("templates/sdk/Cargo.toml.in");
const SDK_LIB: &str = include_str!("../../../sdk-guest/src/lib.rs");
const HOST_WIT: &str = include_str!("../../../wit/host/log.wit");
const DURABLE_WIT: &str = include_str!("../../../wit/workflow/durable.wit");
const CONFIG_WIT: [(&str, &str); 2] = [
    (
        "sdk-guest/wit/config-rc-1/world.wit",
        include_str!("../../../wit/config-rc-1/world.wit"),
    ),
    (
        "sdk-guest/wit/config-rc-1/store.wit",
        include_str!("../../../wit/config-rc-1/store.wit"),
    ),
];
const KEYVALUE_WIT: [(&str, &str); 4] = [
    (
        "sdk-guest/wit/keyvalue/world.wit",
        include_str!("../../../wit/keyvalue/world.wit"),
    ),
    (
        "sdk-guest/wit/keyvalue/store.wit",
        include_str!("../../../wit/keyvalue/store.wit"),
    ),
    (
        "sdk-guest/wit/keyvalue/atomic.wit",
        include_str!("../../../wit/keyvalue/atomic.wit"),
    ),
    (
        "sdk-guest/wit/keyvalue/batch.wit",
        include_str!("../../../wit/keyvalue/batch.wit"),
    ),
];

/// The SDK's source as vendored: its WIT beside it rather than in the repository's wit/.
fn vendored_sdk_lib() -> String {
    SDK_LIB
        .replace("path: \"../wit/host\"", "path: \"wit/host\"")
        .replace("path: \"../wit/workflow\"", "path: \"wit/workflow\"")
        .replace("path: \"../wit/keyvalue\"", "path: \"wit/keyvalue\"")
        .replace("path: \"../wit/config-rc-1\"", "path: \"wit/config-rc-1\"")
}

/// (path in the crate, template text) per template.
fn files(template: Template) -> Vec<(&'static str, &'static str)> {
    if let Template::Python = template {
        return vec![
            (".gitignore", PYTHON_GITIGNORE),
            ("wit/world.wit", include_str!("templates/python/world.wit")),
            ("app.py", include_str!("templates/python/app.py")),
            ("test_app.py", include_str!("templates/python/test_app.py")),
            ("tsdev.toml", include_str!("templates/python/tsdev.toml")),
            ("README.md", include_str!("templates/python/README.md")),
        ];
    }
    if let Template::Http = template {
        // The `wasi` crate's bindings, no SDK: a plain wasi:http component.
        return vec![
            ("Cargo.toml", include_str!("templates/http/Cargo.toml.in")),
            (".gitignore", GITIGNORE),
            ("src/lib.rs", include_str!("templates/http/lib.rs")),
            ("tsdev.toml", include_str!("templates/http/tsdev.toml")),
            ("README.md", include_str!("templates/http/README.md")),
        ];
    }
    let mut files = vec![
        ("Cargo.toml", CARGO_TOML),
        (".gitignore", GITIGNORE),
        ("sdk-guest/Cargo.toml", SDK_CARGO_TOML),
        ("sdk-guest/wit/host/log.wit", HOST_WIT),
        ("sdk-guest/wit/workflow/durable.wit", DURABLE_WIT),
    ];
    files.extend(KEYVALUE_WIT);
    files.extend(CONFIG_WIT);
    match template {
        Template::Procedure => files.extend([
            (
                "wit/world.wit",
                include_str!("templates/procedure/world.wit"),
            ),
            ("src/lib.rs", include_str!("templates/procedure/lib.rs")),
            ("tsdev.toml", include_str!("templates/procedure/tsdev.toml")),
            ("README.md", include_str!("templates/procedure/README.md")),
        ]),
        Template::Workflow => files.extend([
            (
                "wit/world.wit",
                include_str!("templates/workflow/world.wit"),
            ),
            ("src/lib.rs", include_str!("templates/workflow/lib.rs")),
            ("tsdev.toml", include_str!("templates/workflow/tsdev.toml")),
            ("README.md", include_str!("templates/workflow/README.md")),
        ]),
        Template::Http | Template::Python => {}
    }
    files
}

/// WIT keywords, which cannot name the interface the templates declare.
const WIT_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "export",
    "f32",
    "f64",
    "flags",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "option",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
];

/// The name must be a component name and a WIT identifier (each '-' word starts with a
/// letter).
fn check_init_name(name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let words_ok = name
        .split('-')
        .all(|word| word.starts_with(|c: char| c.is_ascii_lowercase()));
    if !words_ok {
        bail!(
            "{name:?} is not a WIT identifier: every word between '-' must start with a letter (e.g. \"shop-v2\", not \"shop-2\")"
        );
    }
    if WIT_KEYWORDS.contains(&name) {
        bail!("{name:?} is a WIT keyword; choose another name");
    }
    Ok(())
}

impl InitCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        check_init_name(&self.name)?;
        let dir = self.path.unwrap_or_else(|| PathBuf::from(&self.name));
        let occupied = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
        if occupied {
            bail!(
                "{} already exists and is not empty; choose another --path",
                dir.display()
            );
        }
        let snake = self.name.replace('-', "_");
        // The class componentize-py names after the interface: `greeter-app` -> GreeterApp.
        let camel: String = self
            .name
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let sdk_lib = vendored_sdk_lib();
        let sdk = match self.template {
            Template::Http | Template::Python => None,
            Template::Procedure | Template::Workflow => {
                Some(("sdk-guest/src/lib.rs", sdk_lib.as_str()))
            }
        };
        let all = files(self.template).into_iter().chain(sdk);
        for (path, template) in all {
            let text = template
                .replace("{{name}}", &self.name)
                .replace("{{snake}}", &snake)
                .replace("{{camel}}", &camel);
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&target, text)
                .with_context(|| format!("writing {}", target.display()))?;
        }
        println!("created {} in {}", self.name, dir.display());
        println!("next:");
        println!("  cd {}", dir.display());
        println!("  tsdev dev        # serve, build, deploy, and redeploy on every edit");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_sdk_reads_the_wit_beside_it() {
        let lib = vendored_sdk_lib();
        assert!(!lib.contains("../wit"), "no path out of the vendored crate");
        assert!(lib.contains("path: \"wit/host\"") && lib.contains("path: \"wit/workflow\""));
        assert!(lib.contains("path: \"wit/config-rc-1\""));
    }

    #[test]
    fn names_must_be_components_and_wit_identifiers() {
        assert!(check_init_name("shop-v2").is_ok());
        for bad in ["shop-2", "Shop", "world", "a--b", "-a"] {
            assert!(check_init_name(bad).is_err(), "{bad} should be refused");
        }
    }
}
