//! The order workflow: validate -> reserve all lines in parallel -> charge with retries ->
//! durable sleep -> ship; reservations are released when reserving or paying fails.
//! Every step is a procedure of the `shop` example, journaled by the host, so the
//! workflow survives a crash of the host at any point.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "order-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use std::time::Duration;

use exports::example::order::orders::{Guest, Order};
use sdk_guest::workflow::{self, RetryPolicy, StepOptions};
use serde_json::json;

struct Orders;

/// Give every reservation back (compensation).
fn release_all(reservations: &[String]) {
    let calls: Vec<(String, String)> = reservations
        .iter()
        .map(|r| ("shop.release".to_string(), json!({ "reservation": r }).to_string()))
        .collect();
    workflow::call_all(&calls);
}

impl Guest for Orders {
    fn place(order: Order) -> Result<String, String> {
        let lines: Vec<serde_json::Value> = order
            .lines
            .iter()
            .map(|l| json!({ "sku": l.sku, "quantity": l.quantity }))
            .collect();
        let total: u64 = workflow::call_typed("shop.validate", &json!({ "lines": lines }))
            .map_err(|e| format!("invalid order: {e}"))?;

        let reserve: Vec<(String, String)> = order
            .lines
            .iter()
            .map(|l| {
                let args = json!({ "order-id": order.id, "sku": l.sku, "quantity": l.quantity });
                ("shop.reserve".to_string(), args.to_string())
            })
            .collect();
        let mut reservations = Vec::new();
        let mut missing = Vec::new();
        for result in workflow::call_all(&reserve) {
            match result {
                Ok(id) => reservations.push(serde_json::from_str(&id).unwrap_or_default()),
                Err(e) => missing.push(e.error_json.unwrap_or(e.message)),
            }
        }
        if !missing.is_empty() {
            release_all(&reservations);
            return Err(format!("not reserved: {}", missing.join(", ")));
        }

        let charge = StepOptions {
            name: Some("charge".to_string()),
            retry: Some(RetryPolicy {
                max_attempts: 20,
                initial_interval_ms: 100,
                multiplier: 1.5,
                max_interval_ms: 1_000,
            }),
        };
        let args = json!({ "order-id": order.id, "amount-cents": total, "card": order.card });
        let payment: String = match workflow::call_with("shop.charge", &args.to_string(), &charge) {
            Ok(id) => serde_json::from_str(&id).unwrap_or_default(),
            Err(e) => {
                release_all(&reservations);
                return Err(format!("payment failed: {}", e.error_json.unwrap_or(e.message)));
            }
        };

        workflow::sleep(Duration::from_millis(order.ship_after_ms));
        let tracking: String = workflow::call_typed(
            "shop.ship",
            &json!({ "order-id": order.id, "reservations": reservations }),
        )
        .map_err(|e| format!("shipping failed: {e}"))?;
        Ok(format!(
            "order {} shipped as {tracking}, paid {payment} ({total} cents)",
            order.id
        ))
    }
}

export!(Orders);
