//! The procedures behind the `order` workflow example: validate, reserve, charge, ship.
//! Stateless on purpose; a real shop would keep stock and payments in a database and use
//! the step's idempotency key (`sdk_guest::context::idempotency_key`) to charge once.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "shop-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use std::hash::{BuildHasher, Hasher};

use exports::example::shop::shop::{Guest, Line};

struct Shop;

/// A sku's price in cents: 100 per character, so examples can check totals by hand.
fn price(sku: &str) -> u64 {
    100 * sku.chars().count() as u64
}

/// A fair coin from WASI randomness.
fn coin() -> bool {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() % 2 == 0
}

impl Guest for Shop {
    fn validate(lines: Vec<Line>) -> Result<u64, String> {
        if lines.is_empty() {
            return Err("an order needs at least one line".to_string());
        }
        if let Some(bad) = lines.iter().find(|l| !(1..=100).contains(&l.quantity)) {
            return Err(format!("{}: quantities go from 1 to 100", bad.sku));
        }
        Ok(lines
            .iter()
            .map(|l| price(&l.sku) * u64::from(l.quantity))
            .sum())
    }

    fn reserve(order_id: String, sku: String, quantity: u32) -> Result<String, String> {
        if sku == "unobtainium" {
            return Err(format!("{sku} is out of stock"));
        }
        sdk_guest::info!("reserved {quantity} x {sku} for {order_id}");
        Ok(format!("res-{order_id}-{sku}"))
    }

    fn release(reservation: String) -> String {
        sdk_guest::info!("released {reservation}");
        reservation
    }

    fn charge(order_id: String, amount_cents: u64, card: String) -> Result<String, String> {
        if card.ends_with("0000") {
            return Err("declined".to_string());
        }
        if card.ends_with("flaky") && coin() {
            return Err("unavailable".to_string());
        }
        let key = sdk_guest::context::idempotency_key().unwrap_or_default();
        sdk_guest::info!("charged {amount_cents} cents for {order_id} (key {key})");
        Ok(format!("pay-{order_id}"))
    }

    fn ship(order_id: String, reservations: Vec<String>) -> String {
        sdk_guest::info!("shipping {order_id}: {}", reservations.join(", "));
        format!("track-{order_id}")
    }
}

export!(Shop);
