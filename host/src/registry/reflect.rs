//! Procedures from a component's own types: every exported function, its parameters and
//! result, its WIT signature, and why a function is not exposed when it is not.

use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, Type};

/// One exported function, before it is bound to a deployment.
pub(crate) struct FoundProcedure {
    /// `{interface}.{function}`, or `{function}` for a function the world exports directly.
    pub name: String,
    pub export: ComponentExportIndex,
    pub params: Vec<(String, Type)>,
    pub result: Option<Type>,
    /// e.g. `func(name: string) -> record { greeting: string }`.
    pub signature: String,
}

/// An exported function that is not callable as a procedure, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Unexposed {
    pub name: String,
    pub reason: String,
}

/// Exports that toolchains add for their own use, not part of the component's API:
/// (instance export name, function name, what it is). Exposing them would let callers
/// poke at runtime internals, and every component of that toolchain would conflict.
const TOOLCHAIN_INTERNAL_EXPORTS: &[(&str, &str, &str)] = &[(
    "exports",
    "init",
    "componentize-py's pre-initialization hook, not part of the component's API",
)];

/// Functions that toolchains export from the world itself for their own use: (name, its
/// parameter names, what it is). Matched by the parameter names too, so that a component's
/// own function of that name stays a procedure.
const TOOLCHAIN_INTERNAL_FUNCTIONS: &[(&str, &[&str], &str)] = &[(
    "init",
    &["shim", "script", "entry-path", "disable-gc"],
    "componentize-qjs's initialization hook (it would run any script it is given), not part of the component's API",
)];

/// Why a component's exports cannot be read as procedures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReflectError {
    #[error(transparent)]
    TypeTooComplex(#[from] TypeTooComplex),
    #[error("{0}")]
    Exports(String),
}

/// The procedures `component` exports.
pub(crate) fn procedures(
    engine: &Engine,
    component: &Component,
) -> Result<(Vec<FoundProcedure>, Vec<Unexposed>), ReflectError> {
    let mut found = Vec::new();
    let mut unexposed = Vec::new();
    for (export_name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) => {
                check_type_size(export_name, &func)?;
                if let Some((_, _, what)) =
                    TOOLCHAIN_INTERNAL_FUNCTIONS
                        .iter()
                        .find(|(name, params, _)| {
                            *name == export_name
                                && func.params().map(|(p, _)| p).eq(params.iter().copied())
                        })
                {
                    unexposed.push(Unexposed {
                        name: export_name.to_string(),
                        reason: (*what).to_string(),
                    });
                    continue;
                }
                let index = component
                    .get_export_index(None, export_name)
                    .ok_or_else(|| {
                        ReflectError::Exports(format!("export {export_name} has no index"))
                    })?;
                classify(
                    export_name.to_string(),
                    index,
                    &func,
                    &mut found,
                    &mut unexposed,
                );
            }
            // Served over HTTP as a whole (see [`http_handler`]), not as procedures.
            ComponentItem::ComponentInstance(_) if is_incoming_handler(export_name) => {}
            ComponentItem::ComponentInstance(instance) => {
                let interface = interface_name(export_name);
                let instance_index =
                    component
                        .get_export_index(None, export_name)
                        .ok_or_else(|| {
                            ReflectError::Exports(format!("export {export_name} has no index"))
                        })?;
                for (func_name, item) in instance.exports(engine) {
                    let ComponentItem::ComponentFunc(func) = item.ty else {
                        continue;
                    };
                    let name = format!("{interface}.{func_name}");
                    check_type_size(&name, &func)?;
                    if let Some((_, _, what)) = TOOLCHAIN_INTERNAL_EXPORTS
                        .iter()
                        .find(|(instance, func, _)| *instance == export_name && *func == func_name)
                    {
                        unexposed.push(Unexposed {
                            name,
                            reason: (*what).to_string(),
                        });
                        continue;
                    }
                    if func_name.starts_with('[') {
                        unexposed.push(Unexposed {
                            name,
                            reason: "a method, constructor or static function of a resource".into(),
                        });
                        continue;
                    }
                    let index = component
                        .get_export_index(Some(&instance_index), func_name)
                        .ok_or_else(|| {
                            ReflectError::Exports(format!("export {name} has no index"))
                        })?;
                    classify(name, index, &func, &mut found, &mut unexposed);
                }
            }
            _ => {}
        }
    }
    let mut seen = std::collections::HashSet::new();
    for procedure in &found {
        if !seen.insert(procedure.name.as_str()) {
            return Err(ReflectError::Exports(format!(
                "the component exports two procedures named {}; interfaces exported from \
                 different packages need different names",
                procedure.name
            )));
        }
    }
    Ok((found, unexposed))
}

/// `wasi:http/incoming-handler` at any 0.2 version: what `wasmtime serve`, Spin and every
/// wasi:http toolchain export.
fn is_incoming_handler(export_name: &str) -> bool {
    export_name.starts_with("wasi:http/incoming-handler@0.2.")
}

/// The `handle` function of the `wasi:http/incoming-handler` that `component` exports, if
/// it exports one.
pub(crate) fn http_handler(engine: &Engine, component: &Component) -> Option<ComponentExportIndex> {
    let component_type = component.component_type();
    let (name, _) = component_type.exports(engine).find(|(name, item)| {
        is_incoming_handler(name) && matches!(item.ty, ComponentItem::ComponentInstance(_))
    })?;
    let instance = component.get_export_index(None, name)?;
    component.get_export_index(Some(&instance), "handle")
}

fn classify(
    name: String,
    export: ComponentExportIndex,
    func: &ComponentFunc,
    found: &mut Vec<FoundProcedure>,
    unexposed: &mut Vec<Unexposed>,
) {
    let params: Vec<(String, Type)> = func.params().map(|(n, t)| (n.to_string(), t)).collect();
    let result = func.results().next();
    let unsupported = params
        .iter()
        .map(|(_, t)| t)
        .chain(result.iter())
        .find_map(unsupported_part);
    if let Some(part) = unsupported {
        unexposed.push(Unexposed {
            name,
            reason: format!("its signature uses {part}, which cannot be passed as JSON"),
        });
        return;
    }
    if func.async_() {
        unexposed.push(Unexposed {
            name,
            reason: "async functions are not supported yet".into(),
        });
        return;
    }
    let signature = signature(&params, result.as_ref());
    found.push(FoundProcedure {
        name,
        export,
        params,
        result,
        signature,
    });
}

/// `wasi:http/handler@0.2.0` -> `handler`; `users` -> `users`.
fn interface_name(export_name: &str) -> &str {
    let without_version = export_name.split('@').next().unwrap_or(export_name);
    without_version
        .rsplit('/')
        .next()
        .unwrap_or(without_version)
}

/// Type nodes one function's parameters and result may have, written out in full (WIT
/// types share parts, so a tiny component can describe a type that doubles at each level).
/// Signatures, JSON Schemas and OpenAPI grow with this count.
pub(crate) const MAX_TYPE_NODES: usize = 10_000;
/// How deeply one type may nest (lists of records of options of …).
pub(crate) const MAX_TYPE_DEPTH: usize = 64;

/// A function whose types are over [`MAX_TYPE_NODES`] or [`MAX_TYPE_DEPTH`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the types of {function} are too large: over {MAX_TYPE_NODES} nodes written out, or nested over {MAX_TYPE_DEPTH} deep"
)]
pub struct TypeTooComplex {
    pub function: String,
}

/// Count the nodes of `ty` written out, at `depth`, against `budget`; false as soon as
/// the budget or the depth runs out. Stops early, so it costs at most the budget.
fn within_budget(ty: &Type, depth: usize, budget: &mut usize) -> bool {
    if depth > MAX_TYPE_DEPTH || *budget == 0 {
        return false;
    }
    *budget -= 1;
    let mut child = |t: &Type| within_budget(t, depth + 1, budget);
    match ty {
        Type::List(l) => child(&l.ty()),
        Type::Option(o) => child(&o.ty()),
        Type::Record(r) => r.fields().all(|f| child(&f.ty)),
        Type::Tuple(t) => t.types().all(|t| child(&t)),
        Type::Variant(v) => v.cases().all(|c| c.ty.as_ref().is_none_or(&mut child)),
        Type::Result(r) => {
            r.ok().as_ref().is_none_or(&mut child) && r.err().as_ref().is_none_or(&mut child)
        }
        _ => true,
    }
}

/// Refuse a function whose parameter and result types are too large to describe.
pub(crate) fn check_type_size(function: &str, func: &ComponentFunc) -> Result<(), TypeTooComplex> {
    let mut budget = MAX_TYPE_NODES;
    let fits = func
        .params()
        .all(|(_, t)| within_budget(&t, 0, &mut budget))
        && func.results().all(|t| within_budget(&t, 0, &mut budget));
    if fits {
        Ok(())
    } else {
        Err(TypeTooComplex {
            function: function.to_string(),
        })
    }
}

/// The first part of `ty` that JSON cannot carry (resources, streams, futures, …).
fn unsupported_part(ty: &Type) -> Option<String> {
    match ty {
        Type::Own(_) | Type::Borrow(_) => Some("a resource".into()),
        Type::Future(_) => Some("a future".into()),
        Type::Stream(_) => Some("a stream".into()),
        Type::ErrorContext => Some("an error-context".into()),
        Type::Map(_) => Some("a map".into()),
        Type::FixedLengthList(_) => Some("a fixed-length list".into()),
        Type::List(l) => unsupported_part(&l.ty()),
        Type::Option(o) => unsupported_part(&o.ty()),
        Type::Record(r) => r.fields().find_map(|f| unsupported_part(&f.ty)),
        Type::Tuple(t) => t.types().find_map(|t| unsupported_part(&t)),
        Type::Variant(v) => v
            .cases()
            .find_map(|c| c.ty.as_ref().and_then(unsupported_part)),
        Type::Result(r) => r
            .ok()
            .as_ref()
            .and_then(unsupported_part)
            .or_else(|| r.err().as_ref().and_then(unsupported_part)),
        _ => None,
    }
}

fn signature(params: &[(String, Type)], result: Option<&Type>) -> String {
    let params: Vec<String> = params
        .iter()
        .map(|(n, t)| format!("{n}: {}", wit_type(t)))
        .collect();
    match result {
        None => format!("func({})", params.join(", ")),
        Some(r) => format!("func({}) -> {}", params.join(", "), wit_type(r)),
    }
}

/// A WIT type written out structurally (component types carry no type names).
pub(crate) fn wit_type(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", wit_type(&l.ty())),
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, wit_type(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(t) => {
            let types: Vec<String> = t.types().map(|t| wit_type(&t)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match &c.ty {
                    Some(t) => format!("{}({})", c.name, wit_type(t)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Option(o) => format!("option<{}>", wit_type(&o.ty())),
        Type::Result(r) => match (r.ok(), r.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", wit_type(&ok)),
            (None, Some(e)) => format!("result<_, {}>", wit_type(&e)),
            (Some(ok), Some(e)) => format!("result<{}, {}>", wit_type(&ok), wit_type(&e)),
        },
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Map(_) => "map".into(),
        Type::FixedLengthList(_) => "fixed-length list".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::interface_name;

    #[test]
    fn interface_names_drop_package_and_version() {
        assert_eq!(interface_name("example:shop/users@0.1.0"), "users");
        assert_eq!(interface_name("example:shop/users"), "users");
        assert_eq!(interface_name("users"), "users");
    }
}
