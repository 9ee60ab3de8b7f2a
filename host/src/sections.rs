//! Custom sections tsdev reads from and writes into components: the manifest
//! ([`crate::manifest::SECTION`]) and WIT doc comments (`package-docs`, wit-parser's
//! format). `tsdev build` writes them; the host reads them at upload.

use std::path::Path;

use wasmparser::{BinaryReader, Parser, Payload};

/// The section wit-parser (and so wasm-tools) keeps WIT doc comments in.
pub(crate) const PACKAGE_DOCS: &str = "package-docs";

/// Why sections could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SectionError {
    #[error("the file is not a WebAssembly component: {0}")]
    Malformed(String),
    #[error("reading the WIT in {path}: {message}")]
    Wit { path: String, message: String },
}

/// The data of the first top-level custom section called `name` (not one inside a nested
/// module or component).
pub(crate) fn top_level_custom_section<'a>(wasm: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { return None };
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(section) if depth == 0 && section.name() == name => {
                return Some(section.data());
            }
            _ => {}
        }
    }
    None
}

/// `wasm` with its top-level custom sections called like one of `sections` replaced by
/// `sections` (appended at the end). Running it twice gives the same bytes.
pub(crate) fn replace_custom_sections(
    wasm: &[u8],
    sections: &[(&str, Vec<u8>)],
) -> Result<Vec<u8>, SectionError> {
    const HEADER: usize = 8;
    if wasm.len() < HEADER || !wasm.starts_with(b"\0asm") {
        return Err(SectionError::Malformed("no \\0asm header".into()));
    }
    let mut out = wasm[..HEADER].to_vec();
    let mut reader = BinaryReader::new(&wasm[HEADER..], HEADER);
    let malformed = |e: wasmparser::BinaryReaderError| SectionError::Malformed(e.to_string());
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8().map_err(malformed)?;
        let size = reader.read_var_u32().map_err(malformed)? as usize;
        let body_start = reader.original_position();
        let body = reader.read_bytes(size).map_err(malformed)?;
        let replaced = id == 0
            && BinaryReader::new(body, body_start)
                .read_string()
                .is_ok_and(|name| sections.iter().any(|(n, _)| *n == name));
        if !replaced {
            out.extend_from_slice(&wasm[start..body_start + size]);
        }
    }
    for (name, data) in sections {
        use wasm_encoder::ComponentSection;
        wasm_encoder::CustomSection {
            name: (*name).into(),
            data: data.as_slice().into(),
        }
        .append_to_component(&mut out);
    }
    Ok(out)
}

/// The doc comments of the WIT package in `wit_dir` (its `deps/` resolved), in the
/// `package-docs` format.
pub(crate) fn wit_docs(wit_dir: &Path) -> Result<Vec<u8>, SectionError> {
    let error = |message: String| SectionError::Wit {
        path: wit_dir.display().to_string(),
        message,
    };
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit_dir)
        .map_err(|e| error(format!("{e:#}")))?;
    wit_parser::PackageMetadata::extract(&resolve, package)
        .encode()
        .map_err(|e| error(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_not_piled_up() {
        let component = wat::parse_str("(component (core module))").expect("valid wat");
        let once = replace_custom_sections(&component, &[("tsdev-manifest", b"a = 1".to_vec())])
            .expect("written");
        assert_eq!(
            top_level_custom_section(&once, "tsdev-manifest"),
            Some(&b"a = 1"[..])
        );
        let twice = replace_custom_sections(&once, &[("tsdev-manifest", b"a = 2".to_vec())])
            .expect("rewritten");
        assert_eq!(
            top_level_custom_section(&twice, "tsdev-manifest"),
            Some(&b"a = 2"[..])
        );
        assert_eq!(twice.len(), once.len(), "the old section is gone");
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&twice)
            .expect("still a valid component");
    }
}
