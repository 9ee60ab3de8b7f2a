//! The smallest useful tsdev guest: a string in, a record out.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "hello",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use exports::example::hello::greeter::{Greeting, Guest};

struct Hello;

impl Guest for Hello {
    fn hello(name: String) -> Greeting {
        sdk_guest::info!("greeting {name}");
        Greeting {
            message: format!("Hello, {name}!"),
            name_length: name.chars().count() as u32,
        }
    }
}

export!(Hello);
