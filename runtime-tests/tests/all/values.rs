//! Every WIT value kind both ways, through the `types` example (built with plain cargo and
//! wit-bindgen, no tsdev SDK).

use runtime_tests::{TestHost, guests};
use serde_json::{Value, json};

async fn types_host() -> TestHost {
    let host = TestHost::start();
    let (status, body) = host.deploy("types", guests::TYPES).await;
    assert_eq!(status, 201, "{body}");
    host
}

/// Call `kinds.{procedure}` with `{"v": arg}` and return the 200 body.
async fn echo(host: &TestHost, procedure: &str, arg: Value) -> Value {
    let (status, body) = host
        .rpc(&format!("kinds.{procedure}"), json!({ "v": arg }))
        .await;
    assert_eq!(status, 200, "{procedure}({arg}) -> {body}");
    body
}

/// (procedure, value) pairs that `kinds.{procedure}` echoes unchanged.
fn round_trip_cases() -> Vec<(&'static str, Value)> {
    vec![
        ("echo-bool", json!(true)),
        ("echo-s8", json!(-128)),
        ("echo-u8", json!(255)),
        ("echo-s16", json!(-32768)),
        ("echo-u16", json!(65535)),
        ("echo-s32", json!(-2147483648i64)),
        ("echo-u32", json!(4294967295u64)),
        ("echo-s64", json!(i64::MIN)),
        ("echo-u64", json!(u64::MAX)),
        ("echo-f32", json!(1.5)),
        ("echo-f64", json!(-0.125)),
        ("echo-char", json!("🦀")),
        ("echo-string", json!("héllo \"wörld\"")),
        ("echo-bytes", json!([0, 1, 255])),
        (
            "echo-points",
            json!([{ "x": 1, "y": -2 }, { "x": 3, "y": 4 }]),
        ),
        (
            "echo-person",
            json!({ "name": "Ada", "age": 36, "email": "ada@example.com", "tags": ["math"] }),
        ),
        ("echo-tuple", json!(["a", 7, false])),
        ("echo-shape", json!({ "circle": 2.5 })),
        ("echo-shape", json!({ "rectangle": { "x": 2, "y": 3 } })),
        ("echo-shape", json!("empty")),
        ("echo-color", json!("green")),
        ("echo-permissions", json!(["read", "execute"])),
        ("echo-permissions", json!([])),
        ("echo-option", json!(7)),
        ("echo-option", json!(null)),
        ("echo-nested-option", json!(null)),
        ("echo-nested-option", json!({ "some": null })),
        ("echo-nested-option", json!({ "some": "x" })),
        ("echo-results", json!([{ "ok": "fine" }, { "err": 42 }])),
    ]
}

#[tokio::test]
async fn every_value_kind_round_trips() {
    let host = types_host().await;
    let cases = round_trip_cases();
    for (procedure, value) in cases {
        assert_eq!(
            echo(&host, procedure, value.clone()).await,
            value,
            "{procedure}"
        );
    }
}

#[tokio::test]
async fn alternative_inputs_are_accepted_and_answered_canonically() {
    let host = types_host().await;
    // 64-bit integers as decimal strings, exact beyond 2^53.
    assert_eq!(
        echo(&host, "echo-u64", json!("18446744073709551615")).await,
        json!(u64::MAX)
    );
    assert_eq!(
        echo(&host, "echo-s64", json!("-9007199254740993")).await,
        json!(-9007199254740993i64)
    );
    // Non-finite floats as strings.
    assert_eq!(echo(&host, "echo-f64", json!("NaN")).await, json!("NaN"));
    assert_eq!(
        echo(&host, "echo-f32", json!("-Infinity")).await,
        json!("-Infinity")
    );
    // list<u8> as base64.
    assert_eq!(
        echo(&host, "echo-bytes", json!("AQID")).await,
        json!([1, 2, 3])
    );
    // A missing option field means none.
    assert_eq!(
        echo(
            &host,
            "echo-person",
            json!({ "name": "Bo", "age": 3, "tags": [] })
        )
        .await,
        json!({ "name": "Bo", "age": 3, "email": null, "tags": [] })
    );
    // A flag given twice is refused: the schema says uniqueItems.
    let (status, problem) = host
        .rpc("kinds.echo-permissions", json!({ "v": ["write", "write"] }))
        .await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (400, Some("invalid-args"))
    );
    assert_eq!(problem["path"], "v[1]");
}

#[tokio::test]
async fn functions_with_behaviour_answer_and_results_split_into_200_and_422() {
    let host = types_host().await;
    let (status, body) = host
        .rpc("kinds.divide", json!({ "a": 5.0, "b": 2.0 }))
        .await;
    assert_eq!((status, body), (200, json!(2.5)));

    let (status, body) = host
        .rpc("kinds.divide", json!({ "a": 1.0, "b": 0.0 }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["kind"], "procedure-error");
    assert_eq!(body["error"], json!("division-by-zero"));

    let (status, body) = host
        .rpc("kinds.divide", json!({ "a": 1e308, "b": 1e-308 }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], json!({ "not-finite": "Infinity" }));

    let (status, body) = host
        .rpc(
            "kinds.area",
            json!({ "shape": { "rectangle": { "x": 3, "y": 4 } } }),
        )
        .await;
    assert_eq!((status, body), (200, json!(12.0)));

    let person = json!({ "name": "Ada", "age": 36, "tags": ["a", "b"] });
    let (status, body) = host.rpc("kinds.describe", json!({ "who": person })).await;
    assert_eq!((status, body), (200, json!("Hi Ada, 36 [a,b]")));
    let (status, body) = host
        .rpc(
            "kinds.describe",
            json!({ "who": person, "greeting": "Hello" }),
        )
        .await;
    assert_eq!((status, body), (200, json!("Hello Ada, 36 [a,b]")));

    // No parameters and no result: an empty body, answered with null.
    let (status, body) = host.rpc_raw("kinds.nothing", String::new()).await;
    assert_eq!((status, body), (200, Value::Null));
    // Whitespace alone is not an empty body but malformed JSON (what schemathesis sends as
    // "invalid syntax"): refused, even where every parameter may be left out.
    let (status, body) = host.rpc_raw("kinds.echo-option", "\n".into()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["kind"], "invalid-args", "{body}");
    // A function the world exports directly is named without an interface.
    let (status, body) = host.rpc("version", json!({})).await;
    assert_eq!((status, body), (200, json!("0.1.0")));
}

#[tokio::test]
async fn procedures_carry_signatures_and_schemas_and_resources_are_listed_unexposed() {
    let host = types_host().await;
    let (status, body) = host.get("/procedures").await;
    assert_eq!(status, 200);
    let procedures = body["procedures"].as_array().expect("a list of procedures");
    let divide = procedures
        .iter()
        .find(|p| p["name"] == "kinds.divide")
        .expect("kinds.divide is listed");
    assert_eq!(divide["component"], "types");
    assert_eq!(
        divide["signature"],
        "func(a: f64, b: f64) -> result<f64, variant { division-by-zero, not-finite(f64) }>"
    );
    assert_eq!(divide["params_schema"]["required"], json!(["a", "b"]));
    assert_eq!(
        divide["params_schema"]["additionalProperties"],
        json!(false)
    );
    let person = procedures
        .iter()
        .find(|p| p["name"] == "kinds.echo-person")
        .expect("echo-person");
    let person_schema = &person["params_schema"]["properties"]["v"];
    assert_eq!(person_schema["required"], json!(["name", "age", "tags"]));
    assert_eq!(person_schema["properties"]["age"]["maximum"], json!(255));
    assert!(
        procedures
            .iter()
            .all(|p| !p["name"].as_str().unwrap_or("").contains("counter"))
    );

    let (status, component) = host.get("/v1/components/types").await;
    assert_eq!(status, 200);
    let unexposed = component["unexposed"].as_array().expect("unexposed list");
    let names: Vec<&str> = unexposed
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert!(names.contains(&"kinds.make-counter"), "{names:?}");
    assert!(
        names.iter().any(|n| n.contains("[constructor]counter")),
        "{names:?}"
    );
    assert!(
        unexposed
            .iter()
            .all(|u| !u["reason"].as_str().unwrap_or("").is_empty())
    );
}

/// `wasm` with a custom section appended at the top level.
fn with_custom_section(mut wasm: Vec<u8>, name: &str, data: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    wasm.push(0);
    leb128(payload.len(), &mut wasm);
    wasm.extend(payload);
    wasm
}

#[tokio::test]
async fn descriptions_come_from_wit_docs_when_the_component_carries_them() {
    let host = TestHost::start();
    let docs = json!({
        "interfaces": { "kinds": { "funcs": { "divide": { "docs": "Divide a by b." } } } },
        "worlds": { "types": { "funcs": { "version": "The version of the example." } } }
    });
    let mut section = vec![1u8];
    section.extend(docs.to_string().into_bytes());
    let wasm = with_custom_section(
        std::fs::read(guests::TYPES).expect("types.wasm"),
        "package-docs",
        &section,
    );
    let (status, body) = host.upload("name=types", wasm).await;
    assert_eq!(status, 201, "{body}");

    let (_, body) = host.get("/procedures").await;
    let procedures = body["procedures"].as_array().expect("procedures");
    let description = |name: &str| {
        procedures
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["description"].clone())
            .expect("listed")
    };
    assert_eq!(description("kinds.divide"), json!("Divide a by b."));
    assert_eq!(description("version"), json!("The version of the example."));
    assert_eq!(description("kinds.echo-u8"), serde_json::Value::Null);
}

#[tokio::test]
async fn the_generated_schemas_accept_what_the_host_accepts_and_refuse_what_it_refuses() {
    let host = types_host().await;
    let (_, body) = host.get("/procedures").await;
    let procedures = body["procedures"].as_array().expect("procedures");
    let schemas = |name: &str| {
        let p = procedures
            .iter()
            .find(|p| p["name"] == format!("kinds.{name}"))
            .unwrap_or_else(|| panic!("kinds.{name} is listed"));
        for schema in [&p["params_schema"], &p["result_schema"]] {
            assert!(
                jsonschema::meta::is_valid(schema),
                "not a valid JSON Schema: {schema}"
            );
        }
        let params =
            jsonschema::validator_for(&p["params_schema"]).expect("params schema compiles");
        let result =
            jsonschema::validator_for(&p["result_schema"]).expect("result schema compiles");
        (params, result)
    };
    for (procedure, value) in round_trip_cases() {
        let (params, result) = schemas(procedure);
        assert!(
            params.is_valid(&json!({ "v": value })),
            "{procedure}: params schema refuses {value}"
        );
        assert!(
            result.is_valid(&value),
            "{procedure}: result schema refuses {value}"
        );
    }
    // Inputs the host also accepts in another form.
    for (procedure, value) in [
        ("echo-u64", json!("18446744073709551615")),
        ("echo-f64", json!("NaN")),
        ("echo-bytes", json!("AQID")),
        ("echo-person", json!({ "name": "Bo", "age": 3, "tags": [] })),
    ] {
        assert!(
            schemas(procedure).0.is_valid(&json!({ "v": value })),
            "{procedure}: {value}"
        );
    }
    // Inputs the host refuses with invalid-args are refused by the schema too.
    for (procedure, args) in [
        ("echo-u8", json!({ "v": 256 })),
        ("echo-u8", json!({ "v": "x" })),
        ("echo-u8", json!({})),
        ("echo-u8", json!({ "v": 1, "w": 2 })),
        ("echo-char", json!({ "v": "ab" })),
        (
            "echo-person",
            json!({ "v": { "name": "A", "age": 1, "tags": [], "extra": 1 } }),
        ),
        ("echo-tuple", json!({ "v": ["a", 1] })),
        ("echo-color", json!({ "v": "purple" })),
        ("echo-shape", json!({ "v": "circle" })),
        ("echo-permissions", json!({ "v": ["fly"] })),
        ("echo-nested-option", json!({ "v": "x" })),
        ("echo-results", json!({ "v": [{ "maybe": 1 }] })),
    ] {
        let (status, _) = host.rpc(&format!("kinds.{procedure}"), args.clone()).await;
        assert_eq!(status, 400, "the host refuses {procedure}({args})");
        assert!(
            !schemas(procedure).0.is_valid(&args),
            "{procedure}: the schema accepts {args}"
        );
    }
    // A top-level result's schema describes the 200 answer: the ok value.
    let divide = procedures
        .iter()
        .find(|p| p["name"] == "kinds.divide")
        .expect("divide");
    let result = jsonschema::validator_for(&divide["result_schema"]).expect("compiles");
    assert!(result.is_valid(&json!(2.5)));
    assert!(!result.is_valid(&json!({ "ok": 2.5 })));
}
