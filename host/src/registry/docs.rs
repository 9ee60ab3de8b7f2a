//! Descriptions of procedures from WIT doc comments, when the component carries them in a
//! `package-docs` custom section (wit-parser's format: a version byte, 0 or 1, then JSON).
//!
//! Today's Rust toolchain drops that section when it links the component; `tsdev build`
//! puts it back from the crate's `wit/` directory.

use std::collections::HashMap;

use serde_json::Value;

use crate::sections::PACKAGE_DOCS as SECTION;

/// Procedure name (as the registry names it) -> description.
pub(crate) fn descriptions(wasm: &[u8]) -> HashMap<String, String> {
    let mut found = HashMap::new();
    if let Some(docs) = crate::sections::top_level_custom_section(wasm, SECTION).and_then(decode) {
        collect(&docs, &mut found);
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
