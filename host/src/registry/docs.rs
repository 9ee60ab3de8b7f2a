//! Descriptions of procedures from WIT doc comments, when the component carries them in a
//! `package-docs` custom section (wit-parser's format: a version byte, 0 or 1, then JSON).
//!
//! Today's Rust toolchain drops that section when it links the component; any component
//! that has one (from `wasm-tools`, or embedded by a build step) gets its docs shown.

use std::collections::HashMap;

use serde_json::Value;

const SECTION: &str = "package-docs";

/// Procedure name (as the registry names it) -> description.
pub fn descriptions(wasm: &[u8]) -> HashMap<String, String> {
    let mut found = HashMap::new();
    // parse_all walks nested modules and components too; only the outermost level's
    // sections are the component's own docs.
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => {
                depth += 1;
            }
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(section)
                if depth == 0 && section.name() == SECTION =>
            {
                if let Some(docs) = decode(section.data()) {
                    collect(&docs, &mut found);
                }
            }
            _ => {}
        }
    }
    found
}

fn decode(data: &[u8]) -> Option<Value> {
    match data.split_first() {
        Some((0 | 1, json)) => serde_json::from_slice(json).ok(),
        _ => None,
    }
}

/// A function's docs: a string (v0) or `{"docs": …}` (v1).
fn function_docs(value: &Value) -> Option<&str> {
    value.as_str().or_else(|| value.get("docs")?.as_str())
}

fn collect(docs: &Value, found: &mut HashMap<String, String>) {
    let mut add = |prefix: Option<&str>, funcs: Option<&Value>| {
        for (name, meta) in funcs.and_then(Value::as_object).into_iter().flatten() {
            if let Some(text) = function_docs(meta) {
                let key = match prefix {
                    Some(interface) => format!("{interface}.{name}"),
                    None => name.clone(),
                };
                found.insert(key, text.trim().to_string());
            }
        }
    };
    for (interface, meta) in docs["interfaces"].as_object().into_iter().flatten() {
        add(Some(interface), meta.get("funcs"));
    }
    for world in docs["worlds"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, w)| w)
    {
        add(None, world.get("funcs"));
        for key in ["interfaces", "interface_exports"] {
            for (interface, meta) in world[key].as_object().into_iter().flatten() {
                add(Some(interface), meta.get("funcs"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_and_v1_function_docs_are_read() {
        let docs = serde_json::json!({
            "interfaces": { "users": { "funcs": { "get": { "docs": " Get a user. " }, "put": "Put a user." } } },
            "worlds": { "app": { "funcs": { "version": { "docs": "The version." } } } }
        });
        let mut found = HashMap::new();
        collect(&docs, &mut found);
        assert_eq!(
            found.get("users.get").map(String::as_str),
            Some("Get a user.")
        );
        assert_eq!(
            found.get("users.put").map(String::as_str),
            Some("Put a user.")
        );
        assert_eq!(
            found.get("version").map(String::as_str),
            Some("The version.")
        );
        assert_eq!(
            decode(&[7, b'{', b'}']),
            None,
            "unknown versions are ignored"
        );
    }
}
