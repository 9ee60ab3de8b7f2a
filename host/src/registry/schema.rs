//! JSON Schema (draft 2020-12) for WIT types, matching the mapping in [`super::json`].

use serde_json::{Value, json};
use wasmtime::component::Type;

fn integer(min: i128, max: i128) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// 64-bit integers: a number, or a decimal string for clients without 64-bit integers. The
/// string's pattern admits exactly the strings in range: digits without leading zeros, at
/// most `max`, or `-` and at most `-min`.
fn integer64(min: i128, max: i128) -> Value {
    let positive = at_most(max.unsigned_abs());
    let pattern = if min < 0 {
        format!("^(?:{positive}|-(?:{}))$", at_most(min.unsigned_abs()))
    } else {
        format!("^(?:{positive})$")
    };
    json!({ "anyOf": [integer(min, max), { "type": "string", "pattern": pattern }] })
}

/// A regular expression (no anchors) for the decimal numbers 0 to `n`, without leading
/// zeros: those with fewer digits than `n`, then those with as many, digit by digit.
pub(crate) fn at_most(n: u128) -> String {
    let digits: Vec<u32> = n
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let mut options = vec!["0".to_string()];
    if digits.len() > 1 {
        options.push(format!("[1-9][0-9]{{0,{}}}", digits.len() - 2));
    }
    let len = digits.len();
    for (i, &d) in digits.iter().enumerate() {
        // Same digits as `n` before position i, a smaller one at i, anything after.
        let lowest = if i == 0 { 1 } else { 0 };
        if d > lowest {
            let prefix: String = digits[..i].iter().map(|d| d.to_string()).collect();
            let rest = len - i - 1;
            let range = if d - 1 == lowest {
                lowest.to_string()
            } else {
                format!("[{lowest}-{}]", d - 1)
            };
            let tail = if rest == 0 {
                String::new()
            } else {
                format!("[0-9]{{{rest}}}")
            };
            options.push(format!("{prefix}{range}{tail}"));
        }
    }
    if n > 0 {
        options.push(n.to_string());
    }
    options.join("|")
}

/// base64 as a `list<u8>` argument may be written (see `json::from_json`): one alphabet,
/// standard or URL-safe, padding optional.
const BASE64_PATTERN: &str = "^(?:(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}={0,2}|[A-Za-z0-9+/]{3}=?)?|(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}={0,2}|[A-Za-z0-9_-]{3}=?)?)$";

/// The schema of JSON values [`super::json::from_json`] accepts for `ty` (and
/// [`super::json::to_json`] produces).
pub(crate) fn schema(ty: &Type) -> Value {
    match ty {
        Type::Bool => json!({ "type": "boolean" }),
        Type::S8 => integer(i8::MIN.into(), i8::MAX.into()),
        Type::U8 => integer(0, u8::MAX.into()),
        Type::S16 => integer(i16::MIN.into(), i16::MAX.into()),
        Type::U16 => integer(0, u16::MAX.into()),
        Type::S32 => integer(i32::MIN.into(), i32::MAX.into()),
        Type::U32 => integer(0, u32::MAX.into()),
        Type::S64 => integer64(i64::MIN.into(), i64::MAX.into()),
        Type::U64 => integer64(0, u64::MAX.into()),
        Type::Float32 => json!({
            "anyOf": [
                { "type": "number", "minimum": -f32::MAX, "maximum": f32::MAX },
                { "enum": ["NaN", "Infinity", "-Infinity"] },
            ]
        }),
        Type::Float64 => json!({
            "anyOf": [{ "type": "number" }, { "enum": ["NaN", "Infinity", "-Infinity"] }]
        }),
        Type::Char => json!({ "type": "string", "minLength": 1, "maxLength": 1 }),
        Type::String => json!({ "type": "string" }),
        Type::List(list) if matches!(list.ty(), Type::U8) => json!({
            "anyOf": [
                { "type": "array", "items": schema(&Type::U8) },
                { "type": "string", "contentEncoding": "base64", "pattern": BASE64_PATTERN },
            ]
        }),
        Type::List(list) => json!({ "type": "array", "items": schema(&list.ty()) }),
        Type::Record(record) => {
            let properties: serde_json::Map<String, Value> = record
                .fields()
                .map(|f| (f.name.to_string(), schema(&f.ty)))
                .collect();
            let required: Vec<&str> = record
                .fields()
                .filter(|f| !matches!(f.ty, Type::Option(_)))
                .map(|f| f.name)
                .collect();
            json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            })
        }
        Type::Tuple(tuple) => {
            let items: Vec<Value> = tuple.types().map(|t| schema(&t)).collect();
            json!({
                "type": "array",
                "prefixItems": items,
                "items": false,
                "minItems": items.len(),
                "maxItems": items.len(),
            })
        }
        Type::Variant(variant) => {
            let cases: Vec<Value> = variant
                .cases()
                .map(|case| match case.ty {
                    None => json!({ "const": case.name }),
                    Some(ty) => single_key(case.name, schema(&ty)),
                })
                .collect();
            json!({ "oneOf": cases })
        }
        Type::Enum(e) => json!({ "type": "string", "enum": e.names().collect::<Vec<_>>() }),
        Type::Flags(flags) => json!({
            "type": "array",
            "items": { "enum": flags.names().collect::<Vec<_>>() },
            "uniqueItems": true,
        }),
        Type::Option(option) => {
            let inner = option.ty();
            let some = if matches!(inner, Type::Option(_)) {
                single_key("some", schema(&inner))
            } else {
                schema(&inner)
            };
            json!({ "anyOf": [{ "type": "null" }, some] })
        }
        Type::Result(result) => {
            let payload = |ty: Option<Type>| ty.map_or(json!({ "type": "null" }), |t| schema(&t));
            json!({
                "oneOf": [
                    single_key("ok", payload(result.ok())),
                    single_key("err", payload(result.err())),
                ]
            })
        }
        other => {
            json!({ "description": format!("{} values are not representable as JSON", super::reflect::wit_type(other)) })
        }
    }
}

fn single_key(key: &str, value: Value) -> Value {
    json!({
        "type": "object",
        "properties": { key: value },
        "required": [key],
        "additionalProperties": false,
    })
}

/// The schema of a call's arguments object.
pub(crate) fn params_schema(params: &[(String, Type)]) -> Value {
    let properties: serde_json::Map<String, Value> = params
        .iter()
        .map(|(name, ty)| (name.clone(), schema(ty)))
        .collect();
    let required: Vec<&str> = params
        .iter()
        .filter(|(_, ty)| !matches!(ty, Type::Option(_)))
        .map(|(name, _)| name.as_str())
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The schema of a call's answer body: what a `200` carries. For a top-level
/// `result<T, E>` that is T (E comes back in a `procedure-error` problem).
pub(crate) fn result_schema(result: Option<&Type>) -> Value {
    let body = match result {
        None => json!({ "type": "null" }),
        Some(Type::Result(r)) => r.ok().map_or(json!({ "type": "null" }), |t| schema(&t)),
        Some(ty) => schema(ty),
    };
    let mut body = body;
    if let Value::Object(map) = &mut body {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
    }
    body
}

/// A plausible value of `ty`, for examples in help text and docs.
pub(crate) fn example(ty: &Type) -> Value {
    match ty {
        Type::Bool => json!(true),
        Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64 => json!(1),
        Type::Float32 | Type::Float64 => json!(1.5),
        Type::Char => json!("a"),
        Type::String => json!("world"),
        Type::List(list) => json!([example(&list.ty())]),
        Type::Record(record) => Value::Object(
            record
                .fields()
                .map(|f| (f.name.to_string(), example(&f.ty)))
                .collect(),
        ),
        Type::Tuple(tuple) => Value::Array(tuple.types().map(|t| example(&t)).collect()),
        Type::Variant(variant) => match variant.cases().next() {
            Some(case) => match case.ty {
                Some(ty) => json!({ case.name: example(&ty) }),
                None => json!(case.name),
            },
            None => Value::Null,
        },
        Type::Enum(e) => e.names().next().map_or(Value::Null, |n| json!(n)),
        Type::Flags(flags) => json!(flags.names().take(1).collect::<Vec<_>>()),
        Type::Option(_) => Value::Null,
        Type::Result(result) => json!({ "ok": result.ok().map_or(Value::Null, |t| example(&t)) }),
        _ => Value::Null,
    }
}

/// An example arguments object for a call.
pub(crate) fn example_args(params: &[(String, Type)]) -> Value {
    Value::Object(
        params
            .iter()
            .map(|(name, ty)| (name.clone(), example(ty)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_patterns_admit_exactly_the_numbers_in_range() {
        for n in [
            0u128,
            7,
            10,
            99,
            100,
            255,
            1000,
            65535,
            u64::MAX.into(),
            1 << 63,
        ] {
            let pattern = regex::Regex::new(&format!("^(?:{})$", at_most(n))).expect("a regex");
            let mut probes: Vec<u128> = (0..=300).collect();
            probes.extend(n.saturating_sub(12)..=n.saturating_add(12));
            for probe in [n / 10, n / 2, n.saturating_mul(10)] {
                probes.push(probe);
            }
            for probe in probes {
                assert_eq!(
                    pattern.is_match(&probe.to_string()),
                    probe <= n,
                    "{probe} against at most {n}"
                );
            }
            assert!(!pattern.is_match("007"), "no leading zeros");
            assert!(!pattern.is_match(""), "not empty");
        }
    }

    #[test]
    fn base64_pattern_admits_what_the_decoder_takes() {
        let pattern = regex::Regex::new(BASE64_PATTERN).expect("a regex");
        for good in ["", "AQID", "AQI=", "AQI", "AQ==", "AQ", "-_-_", "+/+/"] {
            assert!(pattern.is_match(good), "{good}");
        }
        for bad in ["A", "AQID=", "+_", "AQ===", "a b", "AQ=A"] {
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }
}
