//! JSON <-> WIT values, driven by the component's own types (no schema written by hand).
//!
//! The mapping (also in docs/json-mapping.md):
//!
//! | WIT | JSON |
//! |---|---|
//! | `bool` | `true` / `false` |
//! | integers | numbers, range-checked; `s64`/`u64` exact over the whole range (a decimal string is accepted too, for clients without 64-bit integers) |
//! | `f32`/`f64` | numbers; NaN and infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | `char` | a string of exactly one Unicode scalar |
//! | `string` | a string |
//! | `list<T>` | an array; `list<u8>` also accepts a base64 string (answers are always arrays) |
//! | `record` | an object keyed by field names as written in WIT; unknown fields are refused; a missing field means `none` if its type is `option<_>`, else it is refused |
//! | `tuple` | an array of exactly the tuple's length |
//! | `variant` | `"case"` for a case without payload, `{"case": payload}` for one with |
//! | `enum` | `"case"` |
//! | `flags` | an array of the names of the set flags |
//! | `option<T>` | `null` or T; when T is itself an option, `some(x)` is `{"some": x}` so that `some(none)` and `none` differ |
//! | `result<T, E>` | `{"ok": T}` or `{"err": E}` (`null` for an absent payload) |

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

/// base64 as `list<u8>` arguments may be written: the standard or the URL-safe alphabet,
/// padded or not, trailing bits ignored; what [`super::schema`]'s pattern describes.
const LENIENT_BASE64: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT_BASE64);
const BASE64_URL_SAFE: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT_BASE64);
use serde_json::{Map, Value, json};
use wasmtime::component::{Type, Val};

/// An argument that does not fit its WIT type.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{path}: {message}")]
pub struct ArgError {
    /// Where in the arguments, e.g. `user.tags[2]`.
    pub path: String,
    pub message: String,
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, ArgError> {
    Err(ArgError {
        path: path.to_string(),
        message: message.into(),
    })
}

/// A call's arguments: one JSON object keyed by WIT parameter names.
pub(crate) fn args_from_json(
    params: &[(String, Type)],
    args: &Value,
) -> Result<Vec<Val>, ArgError> {
    let empty = Map::new();
    let object = match args {
        Value::Object(object) => object,
        // A function without parameters may be called with no body at all.
        Value::Null if params.is_empty() => &empty,
        other => {
            return err(
                "arguments",
                format!(
                    "expected an object keyed by parameter name, got {}",
                    kind_of(other)
                ),
            );
        }
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !params.iter().any(|(name, _)| name == *key))
    {
        let expected: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
        return err(
            unknown,
            format!(
                "unknown parameter; the parameters are [{}]",
                expected.join(", ")
            ),
        );
    }
    params
        .iter()
        .map(|(name, ty)| match object.get(name) {
            Some(value) => from_json(ty, value, name),
            None if matches!(ty, Type::Option(_)) => Ok(Val::Option(None)),
            None => err(name, "missing parameter"),
        })
        .collect()
}

/// One JSON value as a value of WIT type `ty`; `path` names it in errors.
pub(crate) fn from_json(ty: &Type, value: &Value, path: &str) -> Result<Val, ArgError> {
    Ok(match ty {
        Type::Bool => match value {
            Value::Bool(b) => Val::Bool(*b),
            other => return err(path, format!("expected a boolean, got {}", kind_of(other))),
        },
        Type::S8 => Val::S8(int(value, path, "s8")?),
        Type::U8 => Val::U8(int(value, path, "u8")?),
        Type::S16 => Val::S16(int(value, path, "s16")?),
        Type::U16 => Val::U16(int(value, path, "u16")?),
        Type::S32 => Val::S32(int(value, path, "s32")?),
        Type::U32 => Val::U32(int(value, path, "u32")?),
        Type::S64 => Val::S64(int(value, path, "s64")?),
        Type::U64 => Val::U64(int(value, path, "u64")?),
        Type::Float32 => Val::Float32(float32(value, path)?),
        Type::Float64 => Val::Float64(float(value, path)?),
        Type::Char => {
            let Value::String(s) = value else {
                return err(
                    path,
                    format!("expected a one-character string, got {}", kind_of(value)),
                );
            };
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return err(
                        path,
                        format!(
                            "expected exactly one character, got {} characters",
                            s.chars().count()
                        ),
                    );
                }
            }
        }
        Type::String => match value {
            Value::String(s) => Val::String(s.clone()),
            other => return err(path, format!("expected a string, got {}", kind_of(other))),
        },
        Type::List(list) => {
            let element = list.ty();
            match value {
                Value::Array(items) => Val::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| from_json(&element, item, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                ),
                Value::String(encoded) if matches!(element, Type::U8) => {
                    let bytes = BASE64_STANDARD
                        .decode(encoded)
                        .or_else(|_| BASE64_URL_SAFE.decode(encoded))
                        .map_err(|e| ArgError {
                            path: path.into(),
                            message: format!("expected an array of bytes or a base64 string: {e}"),
                        })?;
                    Val::List(bytes.into_iter().map(Val::U8).collect())
                }
                other => return err(path, format!("expected an array, got {}", kind_of(other))),
            }
        }
        Type::Record(record) => {
            let Value::Object(object) = value else {
                return err(path, format!("expected an object, got {}", kind_of(value)));
            };
            if let Some(unknown) = object
                .keys()
                .find(|key| !record.fields().any(|f| f.name == key.as_str()))
            {
                let fields: Vec<&str> = record.fields().map(|f| f.name).collect();
                return err(
                    &format!("{path}.{unknown}"),
                    format!("unknown field; the fields are [{}]", fields.join(", ")),
                );
            }
            let mut fields = Vec::with_capacity(record.fields().len());
            for field in record.fields() {
                let field_path = format!("{path}.{}", field.name);
                let val = match object.get(field.name) {
                    Some(v) => from_json(&field.ty, v, &field_path)?,
                    None if matches!(field.ty, Type::Option(_)) => Val::Option(None),
                    None => return err(&field_path, "missing field"),
                };
                fields.push((field.name.to_string(), val));
            }
            Val::Record(fields)
        }
        Type::Tuple(tuple) => {
            let Value::Array(items) = value else {
                return err(
                    path,
                    format!(
                        "expected an array of {} items, got {}",
                        tuple.types().len(),
                        kind_of(value)
                    ),
                );
            };
            if items.len() != tuple.types().len() {
                return err(
                    path,
                    format!(
                        "expected an array of exactly {} items, got {}",
                        tuple.types().len(),
                        items.len()
                    ),
                );
            }
            Val::Tuple(
                tuple
                    .types()
                    .zip(items)
                    .enumerate()
                    .map(|(i, (ty, item))| from_json(&ty, item, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Variant(variant) => {
            let (case_name, payload) = tagged(value, path)?;
            let Some(case) = variant.cases().find(|c| c.name == case_name) else {
                let cases: Vec<&str> = variant.cases().map(|c| c.name).collect();
                return err(
                    path,
                    format!(
                        "unknown case \"{case_name}\"; the cases are [{}]",
                        cases.join(", ")
                    ),
                );
            };
            let payload = match (case.ty, payload) {
                (Some(ty), Some(p)) => {
                    Some(Box::new(from_json(&ty, p, &format!("{path}.{case_name}"))?))
                }
                (Some(_), None) => {
                    return err(
                        path,
                        format!("case \"{case_name}\" needs a payload: {{\"{case_name}\": …}}"),
                    );
                }
                (None, None | Some(Value::Null)) => None,
                (None, Some(_)) => {
                    return err(
                        path,
                        format!("case \"{case_name}\" has no payload; write it as \"{case_name}\""),
                    );
                }
            };
            Val::Variant(case_name.to_string(), payload)
        }
        Type::Enum(enum_ty) => {
            let Value::String(name) = value else {
                return err(
                    path,
                    format!(
                        "expected one of the enum's case names, got {}",
                        kind_of(value)
                    ),
                );
            };
            if !enum_ty.names().any(|n| n == name) {
                let names: Vec<&str> = enum_ty.names().collect();
                return err(
                    path,
                    format!(
                        "unknown case \"{name}\"; the cases are [{}]",
                        names.join(", ")
                    ),
                );
            }
            Val::Enum(name.clone())
        }
        Type::Option(option) => {
            let inner = option.ty();
            match value {
                Value::Null => Val::Option(None),
                Value::Object(object) if matches!(inner, Type::Option(_)) => {
                    match (object.get("some"), object.len()) {
                        (Some(v), 1) => Val::Option(Some(Box::new(from_json(
                            &inner,
                            v,
                            &format!("{path}.some"),
                        )?))),
                        _ => return err(path, "a nested option is null or {\"some\": …}"),
                    }
                }
                _ if matches!(inner, Type::Option(_)) => {
                    return err(path, "a nested option is null or {\"some\": …}");
                }
                v => Val::Option(Some(Box::new(from_json(&inner, v, path)?))),
            }
        }
        Type::Result(result) => {
            let (tag, payload) = tagged(value, path)?;
            let payload_of = |ty: Option<Type>, sub: &str| -> Result<Option<Box<Val>>, ArgError> {
                match (ty, payload) {
                    (Some(ty), Some(p)) => {
                        Ok(Some(Box::new(from_json(&ty, p, &format!("{path}.{sub}"))?)))
                    }
                    (Some(_), None) => err(path, format!("expected {{\"{sub}\": …}}")),
                    (None, None | Some(Value::Null)) => Ok(None),
                    (None, Some(_)) => {
                        err(path, format!("\"{sub}\" has no payload here; use null"))
                    }
                }
            };
            match tag {
                "ok" => Val::Result(Ok(payload_of(result.ok(), "ok")?)),
                "err" => Val::Result(Err(payload_of(result.err(), "err")?)),
                other => {
                    return err(
                        path,
                        format!("expected {{\"ok\": …}} or {{\"err\": …}}, got \"{other}\""),
                    );
                }
            }
        }
        Type::Flags(flags) => {
            let Value::Array(items) = value else {
                return err(
                    path,
                    format!("expected an array of flag names, got {}", kind_of(value)),
                );
            };
            let mut set = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::String(name) = item else {
                    return err(
                        &format!("{path}[{i}]"),
                        format!("expected a flag name, got {}", kind_of(item)),
                    );
                };
                if !flags.names().any(|n| n == name) {
                    let names: Vec<&str> = flags.names().collect();
                    return err(
                        &format!("{path}[{i}]"),
                        format!(
                            "unknown flag \"{name}\"; the flags are [{}]",
                            names.join(", ")
                        ),
                    );
                }
                if set.contains(name) {
                    return err(
                        &format!("{path}[{i}]"),
                        format!("flag \"{name}\" is given twice; each flag at most once"),
                    );
                }
                set.push(name.clone());
            }
            Val::Flags(set)
        }
        other => {
            return err(
                path,
                format!(
                    "values of type {} cannot be passed as JSON",
                    super::reflect::wit_type(other)
                ),
            );
        }
    })
}

/// What a function returned, as JSON: `Ok` with its answer, or `Err` with its own error
/// when it returned the `err` case of a top-level `result` (a procedure's error; a
/// workflow's failure). No result is `null`.
pub(crate) fn returned(results: Vec<Val>) -> Result<Value, Value> {
    match results.into_iter().next() {
        None => Ok(Value::Null),
        Some(Val::Result(Ok(payload))) => Ok(payload.as_deref().map_or(Value::Null, to_json)),
        Some(Val::Result(Err(payload))) => Err(payload.as_deref().map_or(Value::Null, to_json)),
        Some(other) => Ok(to_json(&other)),
    }
}

/// A WIT value as JSON. Needs no type: nested options are told apart by the value itself.
pub(crate) fn to_json(val: &Val) -> Value {
    match val {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(f) => float_to_json(f64::from(*f)),
        Val::Float64(f) => float_to_json(*f),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), to_json(v)))
                .collect(),
        ),
        Val::Variant(case, None) | Val::Enum(case) => json!(case),
        Val::Variant(case, Some(payload)) => json!({ case: to_json(payload) }),
        Val::Option(None) => Value::Null,
        Val::Option(Some(inner)) => match inner.as_ref() {
            Val::Option(_) => json!({ "some": to_json(inner) }),
            other => to_json(other),
        },
        Val::Result(Ok(payload)) => {
            json!({ "ok": payload.as_deref().map_or(Value::Null, to_json) })
        }
        Val::Result(Err(payload)) => {
            json!({ "err": payload.as_deref().map_or(Value::Null, to_json) })
        }
        Val::Flags(names) => json!(names),
        Val::Map(entries) => Value::Array(
            entries
                .iter()
                .map(|(k, v)| json!([to_json(k), to_json(v)]))
                .collect(),
        ),
        // Procedures using these are never exposed (see reflect.rs); say what it was.
        Val::Resource(_) => json!("<resource>"),
        Val::Future(_) => json!("<future>"),
        Val::Stream(_) => json!("<stream>"),
        Val::ErrorContext(_) => json!("<error-context>"),
    }
}

fn float_to_json(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f == f64::INFINITY {
        json!("Infinity")
    } else if f == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(f)
    }
}

/// An f32: a finite number beyond f32's range is refused, not turned into infinity.
fn float32(value: &Value, path: &str) -> Result<f32, ArgError> {
    let wide = float(value, path)?;
    let narrow = wide as f32;
    if wide.is_finite() && wide.abs() > f64::from(f32::MAX) {
        return err(
            path,
            format!(
                "{wide} is out of range for f32 (at most {:e} in magnitude)",
                f32::MAX
            ),
        );
    }
    Ok(narrow)
}

fn float(value: &Value, path: &str) -> Result<f64, ArgError> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| ArgError {
            path: path.into(),
            message: "not a representable number".into(),
        }),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        other => err(
            path,
            format!(
                "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got {}",
                kind_of(other)
            ),
        ),
    }
}

/// 2^53: floats hold every integer below it exactly.
const EXACT_FLOAT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// A decimal integer string as the schema's pattern has it: digits without leading zeros,
/// `-` first when `signed`.
fn decimal(text: &str, signed: bool) -> Option<i128> {
    let digits = match text.strip_prefix('-') {
        Some(rest) if signed => rest,
        Some(_) => return None,
        None => text,
    };
    let plain = !digits.is_empty()
        && digits.len() <= 39
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !plain {
        return None;
    }
    text.parse::<i128>().ok()
}

/// An integer of WIT type `wit` with range `T::MIN..=T::MAX`.
fn int<T>(value: &Value, path: &str, wit: &str) -> Result<T, ArgError>
where
    T: TryFrom<i128> + Bounds,
{
    let wide: i128 = match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => i128::from(u),
            (None, Some(i), _) => i128::from(i),
            // JSON Schema's `integer` is any number with a zero fraction: 100.0 is 100. Only
            // below 2^53, where a float holds every integer exactly (a bigger one may be a
            // rounded integer literal past the 64-bit range).
            (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < EXACT_FLOAT_INTEGERS => {
                f as i128
            }
            _ => return err(path, format!("expected an integer for {wit}, got {n}")),
        },
        // Decimal strings: JavaScript clients cannot hold every 64-bit integer as a number.
        Value::String(s) if wit.ends_with("64") => match decimal(s, T::LOW < 0) {
            Some(i) => i,
            None => {
                return err(
                    path,
                    format!(
                        "expected an integer for {wit}, got the string \"{s}\" (decimal digits{}, no leading zeros)",
                        if T::LOW < 0 { ", an optional '-'" } else { "" }
                    ),
                );
            }
        },
        other => {
            return err(
                path,
                format!("expected an integer for {wit}, got {}", kind_of(other)),
            );
        }
    };
    T::try_from(wide).map_err(|_| ArgError {
        path: path.into(),
        message: format!(
            "{wide} is out of range for {wit} ({}..={})",
            T::LOW,
            T::HIGH
        ),
    })
}

/// The range of an integer type, for error messages.
trait Bounds {
    const LOW: i128;
    const HIGH: i128;
}

macro_rules! bounds {
    ($($t:ty),*) => {$(
        impl Bounds for $t {
            const LOW: i128 = <$t>::MIN as i128;
            const HIGH: i128 = <$t>::MAX as i128;
        }
    )*};
}
bounds!(i8, u8, i16, u16, i32, u32, i64, u64);

/// `"name"` or `{"name": payload}`: how variants and results are written.
fn tagged<'a>(value: &'a Value, path: &str) -> Result<(&'a str, Option<&'a Value>), ArgError> {
    match value {
        Value::String(name) => Ok((name, None)),
        Value::Object(object) if object.len() == 1 => {
            let (name, payload) = object
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v))
                .unwrap_or(("", &Value::Null));
            Ok((name, Some(payload)))
        }
        other => err(
            path,
            format!(
                "expected \"case\" or an object with exactly one key, got {}",
                kind_of(other)
            ),
        ),
    }
}

/// What kind of JSON value `value` is, for messages: "an array", "null", …
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
