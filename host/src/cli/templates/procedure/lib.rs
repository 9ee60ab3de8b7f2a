//! {{name}}: a tsdev component. Each function of the `{{name}}` interface in
//! `wit/world.wit` is a procedure, callable as `POST /rpc/{{name}}.FUNCTION` and on the
//! REST route its `tsdev.toml` gives it.

wit_bindgen::generate!({ path: "wit", world: "{{name}}-world" });

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
        assert_eq!(super::greeting("Ada"), "Hello, Ada!");
    }
}
