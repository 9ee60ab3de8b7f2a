//! A component reading its config through wasi:config/store at both versions, for the
//! runtime tests of config values and secrets.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "settings-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
    generate_all,
});

use exports::test::settings::settings::Guest;

struct Settings;

impl Guest for Settings {
    fn draft_get(key: String) -> Result<Option<String>, String> {
        wasi::config0_2_0_draft_2024_09_27::store::get(&key).map_err(|e| format!("{e:?}"))
    }

    fn rc_get(key: String) -> Result<Option<String>, String> {
        wasi::config0_2_0_rc_1::store::get(&key).map_err(|e| format!("{e:?}"))
    }

    fn rc_all() -> Result<Vec<(String, String)>, String> {
        wasi::config0_2_0_rc_1::store::get_all().map_err(|e| format!("{e:?}"))
    }
}

export!(Settings);
