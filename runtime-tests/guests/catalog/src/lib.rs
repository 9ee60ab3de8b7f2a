//! A catalogue of items for runtime-tests of REST routes and manifest policies.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "catalog-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
    // Bindings for wasi:logging (in wit/deps/) too.
    generate_all,
});

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exports::test::catalog::items::{Guest, Item};

struct Catalog;

fn item(id: u32) -> Item {
    Item {
        id,
        name: format!("item {id}"),
        price_cents: u64::from(id) * 100,
        tags: vec!["stock".to_string()],
    }
}

impl Guest for Catalog {
    fn get(id: u32, verbose: Option<bool>) -> Result<Item, String> {
        if id == 0 {
            return Err("there is no item 0".to_string());
        }
        let mut found = item(id);
        if verbose == Some(true) {
            found.tags.push("verbose".to_string());
        }
        Ok(found)
    }

    fn create(name: String, price_cents: u64, tags: Vec<String>) -> Item {
        Item {
            id: 1000,
            name,
            price_cents,
            tags,
        }
    }

    fn rename(id: u32, name: String) -> Item {
        Item { name, ..item(id) }
    }

    fn search(tags: Vec<String>, limit: Option<u32>) -> Vec<u32> {
        let count = limit.unwrap_or(3);
        (1..=count).map(|i| i * tags.len() as u32).collect()
    }

    fn nonce(seed: u32) -> u64 {
        // WASI randomness seeds RandomState.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(seed);
        hasher.finish()
    }

    fn limited() -> u32 {
        7
    }

    fn internal() -> String {
        "internal".to_string()
    }

    fn note(message: String) -> u32 {
        use wasi::logging::logging::{Level, log};
        log(Level::Warn, "catalog", &message);
        u32::try_from(message.len()).unwrap_or(u32::MAX)
    }

    fn busy(ms: u32) -> u32 {
        let start = Instant::now();
        let mut spins = 0u32;
        while start.elapsed() < Duration::from_millis(u64::from(ms)) {
            spins = spins.wrapping_add(1);
        }
        spins
    }

    fn restock(until_ms: u64) -> Result<u32, String> {
        if now_ms() < until_ms {
            Err("unavailable".to_string())
        } else {
            Ok(42)
        }
    }

    fn crashy(until_ms: u64) -> u32 {
        assert!(now_ms() >= until_ms, "not yet");
        7
    }

    fn key() -> Option<String> {
        sdk_guest::context::idempotency_key()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

export!(Catalog);
