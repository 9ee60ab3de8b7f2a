//! Currency conversion through an outside API (Frankfurter's `/latest` format): the
//! request goes out with `sdk_guest::http`, which reaches only the origins tsdev.toml
//! grants; the API's base URL may be changed with config key `rates-api`.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "rates-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use std::collections::HashMap;

use exports::example::rates::rates::Guest;

/// The public API, unless config key `rates-api` names another.
const DEFAULT_API: &str = "https://api.frankfurter.app";

/// What `GET {api}/latest?base=B&symbols=T` answers (only what is used).
#[derive(serde::Deserialize)]
struct Latest {
    rates: HashMap<String, f64>,
}

struct Rates;

impl Guest for Rates {
    fn convert(amount: f64, base: String, target: String) -> Result<f64, String> {
        let (base, target) = (currency(&base)?, currency(&target)?);
        if base == target {
            return Ok(amount);
        }
        let api = sdk_guest::config::get("rates-api")
            .map_err(|e| format!("reading config: {e:?}"))?
            .unwrap_or_else(|| DEFAULT_API.to_string());
        let url = format!("{api}/latest?base={base}&symbols={target}");
        let response = sdk_guest::http::get(&url).map_err(|e| format!("asking {api}: {e}"))?;
        if response.status != 200 {
            return Err(format!("{api} answered {}: {}", response.status, response.text()));
        }
        let latest: Latest = response
            .json()
            .map_err(|e| format!("{api} answered what is not rates: {e}"))?;
        let rate = latest
            .rates
            .get(&target)
            .ok_or_else(|| format!("{api} has no rate from {base} to {target}"))?;
        Ok(amount * rate)
    }
}

/// A currency code as the API takes it: three letters, upper case.
fn currency(code: &str) -> Result<String, String> {
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(format!("{code:?} is not a currency code (three letters, such as EUR)"))
    }
}

export!(Rates);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_three_letters() {
        assert_eq!(currency("eur"), Ok("EUR".to_string()));
        for bad in ["", "EURO", "E R", "U$D", "€UR"] {
            assert!(currency(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
