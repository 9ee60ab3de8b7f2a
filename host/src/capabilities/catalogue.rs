//! The capability catalogue: every interface the host gives guests, declared once
//! ([`CATALOGUE`]) with its WIT versions, what links it, the grant that allows it and where
//! its state lives. What the rest of the host knows of capabilities is derived from it:
//!
//! - the linker's capability hooks ([`imports`]);
//! - the packages an upload may import ([`provides`]), checked before compiling;
//! - the grant check at upload ([`grant_needed`]: `not-granted` names the grant);
//! - whether a call needs its grants and tenant at hand ([`is_scoped`]);
//! - the table in docs/capabilities.md (`markdown_table`: a test compares the two).
//!
//! Tests fail when an interface is linked but not catalogued, or catalogued but not linked.
//! A new capability is a row here, its linker hook and imports in a file of this module, its
//! grant in `grants.rs`, and its store trait where its state lives.

use super::{config, invoke, keyvalue};
use crate::grants::Grants;
use crate::runtime::ImportsHook;

/// What links a capability's interfaces into every component's linker.
#[derive(Clone, Copy)]
pub(crate) enum LinkedBy {
    /// The runtime itself (`runtime::host_imports`): WASI through wasmtime-wasi, wasi:http's
    /// outgoing half through wasmtime-wasi-http, `tsdev:host`'s basics, wasi:logging.
    Runtime,
    /// This module's hook, added by `Host::open`.
    Hook(ImportsHook),
    /// The workflow engine's hook (`workflow::IMPORTS`), added by whoever runs workflows.
    Workflow,
}

/// The grant a capability needs.
pub(crate) struct Grant {
    /// As written in `tsdev.toml`.
    pub(crate) syntax: &'static str,
    /// Importing the interface needs the grant (else the upload is refused with
    /// `not-granted`); when false, importing is free and each use is checked instead.
    pub(crate) to_import: bool,
    /// Whether `grants` gives it at all.
    pub(crate) given: fn(&Grants) -> bool,
}

/// One capability.
pub(crate) struct Capability {
    /// Its name for people (and the docs table).
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the docs table's test"))]
    pub(crate) name: &'static str,
    /// Its interfaces as components import them: `package/interface@version`.
    pub(crate) interfaces: &'static [&'static str],
    pub(crate) linked_by: LinkedBy,
    /// `None`: every component may use it.
    pub(crate) grant: Option<Grant>,
    /// A call that imports it needs its grants and tenant at hand (a `Capabilities`
    /// extension on the call).
    pub(crate) scoped: bool,
    /// Where its state lives, for the docs table.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the docs table's test"))]
    pub(crate) state: &'static str,
    /// What the docs table says beside it.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the docs table's test"))]
    pub(crate) note: &'static str,
}

/// Every interface the host provides.
pub(crate) static CATALOGUE: &[Capability] = &[
    Capability {
        name: "WASI 0.2",
        interfaces: &[
            "wasi:cli/environment@0.2.0",
            "wasi:cli/exit@0.2.0",
            "wasi:cli/stdin@0.2.0",
            "wasi:cli/stdout@0.2.0",
            "wasi:cli/stderr@0.2.0",
            "wasi:cli/terminal-input@0.2.0",
            "wasi:cli/terminal-output@0.2.0",
            "wasi:cli/terminal-stdin@0.2.0",
            "wasi:cli/terminal-stdout@0.2.0",
            "wasi:cli/terminal-stderr@0.2.0",
            "wasi:clocks/monotonic-clock@0.2.0",
            "wasi:clocks/wall-clock@0.2.0",
            "wasi:filesystem/types@0.2.0",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:io/error@0.2.0",
            "wasi:io/poll@0.2.0",
            "wasi:io/streams@0.2.0",
            "wasi:random/random@0.2.0",
            "wasi:random/insecure@0.2.0",
            "wasi:random/insecure-seed@0.2.0",
            "wasi:sockets/network@0.2.0",
            "wasi:sockets/instance-network@0.2.0",
            "wasi:sockets/ip-name-lookup@0.2.0",
            "wasi:sockets/tcp@0.2.0",
            "wasi:sockets/tcp-create-socket@0.2.0",
            "wasi:sockets/udp@0.2.0",
            "wasi:sockets/udp-create-socket@0.2.0",
        ],
        linked_by: LinkedBy::Runtime,
        grant: None,
        scoped: false,
        state: "none: no files, sockets or environment; stdout and stderr to the host log",
        note: "any 0.2.x patch version; clocks and randomness replay-safe in workflows",
    },
    Capability {
        name: "logging",
        interfaces: &["wasi:logging/logging@0.1.0-draft", "tsdev:host/log@0.1.0"],
        linked_by: LinkedBy::Runtime,
        grant: None,
        scoped: false,
        state: "the host log",
        note: "records bounded per message",
    },
    Capability {
        name: "request context",
        interfaces: &["tsdev:host/context@0.1.0"],
        linked_by: LinkedBy::Runtime,
        grant: None,
        scoped: false,
        state: "the request",
        note: "the request id and idempotency key",
    },
    Capability {
        name: "key-value",
        interfaces: &[
            "wasi:keyvalue/store@0.2.0-draft2",
            "wasi:keyvalue/atomics@0.2.0-draft2",
            "wasi:keyvalue/batch@0.2.0-draft2",
        ],
        linked_by: LinkedBy::Hook(keyvalue::add_to_linker),
        grant: Some(Grant {
            syntax: "key-value = [\"BUCKET\", ...]",
            to_import: true,
            given: |grants| !grants.key_value.is_empty(),
        }),
        scoped: true,
        state: "`KeyValueStore` (the host's database)",
        note: "the tenant's buckets; `kv_bytes` quota",
    },
    Capability {
        name: "config and secrets",
        interfaces: &[
            "wasi:config/store@0.2.0-draft-2024-09-27",
            "wasi:config/store@0.2.0-rc.1",
        ],
        linked_by: LinkedBy::Hook(config::add_to_linker),
        grant: Some(Grant {
            syntax: "config = [\"KEY\", ...]",
            to_import: true,
            given: |grants| !grants.config.is_empty(),
        }),
        scoped: true,
        state: "`ConfigStore` (secrets sealed)",
        note: "the draft Spin SDK 7 imports and wasmtime-wasi-config's rc.1",
    },
    Capability {
        name: "outbound HTTP",
        interfaces: &["wasi:http/types@0.2.0", "wasi:http/outgoing-handler@0.2.0"],
        linked_by: LinkedBy::Runtime,
        grant: Some(Grant {
            syntax: "outbound-http = [\"https://HOST[:PORT]\", ...]",
            // jco's components import it whatever they do: each request is checked.
            to_import: false,
            given: |grants| !grants.outbound_http.is_empty(),
        }),
        scoped: true,
        state: "none",
        note: "importing it needs no grant; each request is checked when sent",
    },
    Capability {
        name: "invoke",
        interfaces: &["tsdev:host/invoke@0.1.0"],
        linked_by: LinkedBy::Hook(invoke::add_to_linker),
        grant: Some(Grant {
            syntax: "invoke = [\"interface.function\", ...]",
            to_import: true,
            given: |grants| !grants.invoke.is_empty(),
        }),
        scoped: true,
        state: "none (the callee's own)",
        note: "procedures of the same tenant; workflows use `durable.call`",
    },
    Capability {
        name: "durable workflow",
        interfaces: &["tsdev:workflow/durable@0.1.0"],
        linked_by: LinkedBy::Workflow,
        grant: None,
        scoped: false,
        state: "`JournalStore` (the execution's journal)",
        note: "workflows only; a procedure calling it gets `workflow-only`",
    },
];

/// `package/interface` of an import name (`wasi:keyvalue/store@0.2.0` gives
/// `wasi:keyvalue/store`), or the whole name when it has no version.
fn unversioned(name: &str) -> &str {
    name.split_once('@')
        .map_or(name, |(interface, _)| interface)
}

/// The package of an import name: `wasi:keyvalue` for `wasi:keyvalue/store@0.2.0`.
fn package_of(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// The capability an import (`package/interface@version`, any version) belongs to.
pub(crate) fn capability_of(import: &str) -> Option<&'static Capability> {
    let interface = unversioned(import);
    CATALOGUE
        .iter()
        .find(|c| c.interfaces.iter().any(|i| unversioned(i) == interface))
}

/// The linker hooks of this module's capabilities, for `Host::open`.
pub(crate) fn imports() -> Vec<ImportsHook> {
    CATALOGUE
        .iter()
        .filter_map(|c| match c.linked_by {
            LinkedBy::Hook(hook) => Some(hook),
            _ => None,
        })
        .collect()
}

/// The packages whose interfaces the host provides (`wasi:cli`, `tsdev:host`, …), in order.
pub(crate) fn provided_packages() -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = CATALOGUE
        .iter()
        .flat_map(|c| c.interfaces.iter().map(|i| package_of(i)))
        .collect();
    packages.sort_unstable();
    packages.dedup();
    packages
}

/// Whether the host provides `package` (`wasi:keyvalue`).
pub(crate) fn provides(package: &str) -> bool {
    CATALOGUE
        .iter()
        .any(|c| c.interfaces.iter().any(|i| package_of(i) == package))
}

/// The grant (as written in `tsdev.toml`) importing `import` needs and `grants` lacks.
pub(crate) fn grant_needed(import: &str, grants: &Grants) -> Option<&'static str> {
    let grant = capability_of(import)?.grant.as_ref()?;
    (grant.to_import && !(grant.given)(grants)).then_some(grant.syntax)
}

/// Whether a call of a component importing `import` needs its grants and tenant at hand.
pub(crate) fn is_scoped(import: &str) -> bool {
    capability_of(import).is_some_and(|c| c.scoped)
}

/// The table of docs/capabilities.md, made from the catalogue (a test keeps the two equal).
#[cfg(test)]
pub(crate) fn markdown_table() -> String {
    let mut table = String::from(
        "| capability | interfaces | grant | state | notes |\n|---|---|---|---|---|\n",
    );
    for c in CATALOGUE {
        let interfaces = c
            .interfaces
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let grant = c
            .grant
            .as_ref()
            .map_or("none".to_string(), |g| format!("`{}`", g.syntax));
        table.push_str(&format!(
            "| {} | {interfaces} | {grant} | {} | {} |\n",
            c.name, c.state, c.note
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime linking what every component gets, as `Host::open` makes it (with
    /// workflows).
    fn runtime() -> crate::runtime::Runtime {
        let hooks = [crate::workflow::IMPORTS, &imports()].concat();
        crate::runtime::Runtime::for_checking(&hooks).expect("a runtime")
    }

    /// Every WIT package the host binds (`wit/`), resolved.
    fn bound_packages() -> Vec<(wit_parser::Resolve, wit_parser::PackageId)> {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let mut packages = Vec::new();
        for entry in std::fs::read_dir(&wit).expect("wit/") {
            let dir = entry.expect("an entry").path();
            if dir.is_dir() {
                let mut resolve = wit_parser::Resolve::default();
                let (package, _) = resolve.push_dir(&dir).expect("a WIT package");
                packages.push((resolve, package));
            }
        }
        packages
    }

    /// A component importing everything `world` imports, with the WIT's own types.
    fn importing(
        runtime: &crate::runtime::Runtime,
        resolve: &wit_parser::Resolve,
        world: wit_parser::WorldId,
    ) -> wasmtime::component::Component {
        let mut module =
            wit_component::dummy_module(resolve, world, wit_parser::ManglingAndAbi::Standard32);
        wit_component::embed_component_metadata(
            &mut module,
            resolve,
            world,
            wit_component::StringEncoding::UTF8,
        )
        .expect("metadata");
        let bytes = wit_component::ComponentEncoder::default()
            .module(&module)
            .and_then(|mut encoder| encoder.encode())
            .expect("a component");
        wasmtime::component::Component::new(runtime.engine(), bytes).expect("it compiles")
    }

    /// Every world of every WIT package the host binds links: what the catalogue says the
    /// host provides of them, it does (WASI and wasi:http are wasmtime-wasi's; the runtime
    /// tests' components import all of them). Without the catalogue's hooks they do not.
    #[test]
    fn every_catalogued_interface_the_host_binds_is_linked() {
        let runtime = runtime();
        let bare =
            crate::runtime::Runtime::for_checking(crate::workflow::IMPORTS).expect("a runtime");
        let mut worlds = 0;
        for (resolve, package) in bound_packages() {
            for (name, world) in &resolve.packages[package].worlds {
                let component = importing(&runtime, &resolve, *world);
                if let Err(e) = runtime.link(&component) {
                    panic!("world {name} of {}: {e}", resolve.packages[package].name);
                }
                let needs_hooks = resolve.worlds[*world].imports.keys().any(|key| {
                    let import = resolve.name_world_key(key);
                    capability_of(&import).is_some_and(|c| matches!(c.linked_by, LinkedBy::Hook(_)))
                });
                let without_hooks = importing(&bare, &resolve, *world);
                assert_eq!(
                    bare.link(&without_hooks).is_err(),
                    needs_hooks,
                    "world {name}: does it link without the catalogue's hooks?"
                );
                worlds += 1;
            }
        }
        assert!(worlds >= 6, "{worlds} worlds");
    }

    /// Every interface of the WIT packages the host binds is catalogued, at its version: an
    /// interface linked (bound) but not catalogued fails here (its grant would go
    /// unchecked).
    #[test]
    fn every_interface_the_host_binds_is_catalogued() {
        let mut checked = 0;
        for (resolve, package) in bound_packages() {
            let name = &resolve.packages[package].name;
            for (interface, _) in &resolve.packages[package].interfaces {
                let version = name
                    .version
                    .as_ref()
                    .map(|v| format!("@{v}"))
                    .unwrap_or_default();
                let import = format!("{}:{}/{interface}{version}", name.namespace, name.name);
                let capability = capability_of(&import)
                    .unwrap_or_else(|| panic!("{import} is bound but not catalogued"));
                assert!(
                    capability.interfaces.contains(&import.as_str()),
                    "{import} is catalogued at another version: {:?}",
                    capability.interfaces
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "{checked} interfaces");
        assert!(capability_of("wasi:keyvalue/watcher@0.2.0-draft2").is_none());
    }

    #[test]
    fn grants_and_scope_are_read_from_the_catalogue() {
        let none = Grants::default();
        assert_eq!(
            grant_needed("wasi:keyvalue/store@0.2.0-draft2", &none),
            Some("key-value = [\"BUCKET\", ...]")
        );
        let kv = Grants {
            key_value: vec!["todos".into()],
            ..Grants::default()
        };
        assert_eq!(grant_needed("wasi:keyvalue/store@0.2.0-draft2", &kv), None);
        assert_eq!(
            grant_needed("wasi:http/outgoing-handler@0.2.3", &none),
            None
        );
        assert_eq!(grant_needed("wasi:cli/stdout@0.2.6", &none), None);
        assert!(is_scoped("wasi:http/outgoing-handler@0.2.6"));
        assert!(is_scoped("tsdev:host/invoke@0.1.0"));
        assert!(!is_scoped("wasi:cli/stdout@0.2.6"));
        assert!(provides("wasi:sockets") && provides("tsdev:workflow"));
        assert!(!provides("wasi:blobstore"));
    }

    #[test]
    fn the_docs_table_is_the_catalogue() {
        let docs = include_str!("../../../docs/capabilities.md");
        let table = markdown_table();
        assert!(
            docs.contains(&table),
            "docs/capabilities.md should hold the catalogue's table:\n{table}"
        );
    }
}
