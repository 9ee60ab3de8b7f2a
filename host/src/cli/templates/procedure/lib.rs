//! {{name}}: a tsdev component. Each function of the `{{name}}` interface in
//! `wit/world.wit` is a procedure, callable as `POST /rpc/{{name}}.FUNCTION` and on the
//! REST route its `tsdev.toml` gives it.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "{{name}}-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use exports::local::{{snake}}::{{snake}}::Guest;

struct Component;

impl Guest for Component {
    fn hello(name: String) -> String {
        greeting(&name)
    }
}

/// Plain Rust, so `cargo test` checks it without a host.
fn greeting(name: &str) -> String {
    format!("Hello, {name}!")
}

export!(Component);

#[cfg(test)]
mod tests {
    #[test]
    fn greets_by_name() {
        // Whatever the greeting word (the README suggests changing it), the name is in it.
        let greeting = super::greeting("Ada");
        assert!(greeting.contains("Ada") && greeting.ends_with('!'), "{greeting}");
    }
}
