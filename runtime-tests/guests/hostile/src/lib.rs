//! Misbehaving procedures for runtime-tests: each must be contained with its own kind.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "hostile-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use std::hint::black_box;

use exports::test::hostile::hostile::Guest;

struct Hostile;

// Two functions calling each other, with work after each call, so neither inlining nor
// tail-call elimination turns the recursion into a loop. They keep everything in wasm
// locals, so they exhaust the native wasm stack.
#[inline(never)]
fn ping(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    pong(depth - 1).rotate_left(1) ^ depth
}

#[inline(never)]
fn pong(depth: u64) -> u64 {
    if depth == 0 {
        return 2;
    }
    ping(depth - 1).rotate_left(3) ^ depth
}

// Each frame keeps a buffer in linear memory, so this exhausts the guest's own
// (linear-memory) stack before the native one.
fn recurse_with_buffer(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let frame = black_box([depth; 16]);
    black_box(recurse_with_buffer(depth - 1)) + frame[depth as usize % 16] % 2
}

impl Guest for Hostile {
    fn spin() -> u64 {
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }

    fn allocate(mib: u32) -> u32 {
        let mut blocks = Vec::new();
        for i in 0..mib {
            blocks.push(black_box(vec![i as u8 | 1; 1 << 20]));
        }
        blocks.len() as u32
    }

    fn panic(message: String) {
        panic!("{message}");
    }

    fn recurse(depth: u64) -> u64 {
        ping(depth)
    }

    fn recurse_with_buffer(depth: u64) -> u64 {
        recurse_with_buffer(depth)
    }

    fn huge_result(mib: u32) -> String {
        "x".repeat(mib as usize * (1 << 20))
    }

    fn ambient() -> Vec<String> {
        let mut found = Vec::new();
        found.extend(std::env::vars().map(|(k, _)| format!("env {k}")));
        found.extend(std::env::args().map(|a| format!("arg {a}")));
        for path in ["/", ".", "/etc/passwd", "/tmp"] {
            if std::fs::metadata(path).is_ok() {
                found.push(format!("file {path}"));
            }
        }
        if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() {
            found.push("tcp 127.0.0.1:5432".to_string());
        }
        found
    }

    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }

    fn chatter(message: String) -> u32 {
        sdk_guest::info!("log: {message}");
        println!("stdout: {message}");
        eprintln!("stderr: {message}");
        message.len() as u32
    }
}

export!(Hostile);
