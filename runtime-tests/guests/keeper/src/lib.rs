//! A component using wasi:keyvalue directly (bindings from the standard WIT, no SDK
//! helper), for the runtime tests of the key-value capability.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "keeper",
    runtime_path: "sdk_guest::wit_bindgen::rt",
    generate_all,
});

use exports::test::keeper::kv::Guest;
use wasi::keyvalue::{atomics, batch, store};

struct Keeper;

/// The error as the caller reads it.
fn text(error: store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "no-such-store".to_string(),
        store::Error::AccessDenied => "access-denied".to_string(),
        store::Error::Other(message) => format!("other: {message}"),
    }
}

fn open(bucket: &str) -> Result<store::Bucket, String> {
    store::open(bucket).map_err(text)
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Guest for Keeper {
    fn get(bucket: String, key: String) -> Result<Option<String>, String> {
        Ok(open(&bucket)?.get(&key).map_err(text)?.map(utf8))
    }

    fn set(bucket: String, key: String, value: String) -> Result<(), String> {
        open(&bucket)?.set(&key, value.as_bytes()).map_err(text)
    }

    fn remove(bucket: String, key: String) -> Result<bool, String> {
        let bucket = open(&bucket)?;
        let existed = bucket.exists(&key).map_err(text)?;
        bucket.delete(&key).map_err(text)?;
        Ok(existed)
    }

    fn incr(bucket: String, key: String, delta: i64) -> Result<i64, String> {
        atomics::increment(&open(&bucket)?, &key, delta).map_err(text)
    }

    fn bump(bucket: String, key: String) -> Result<bool, String> {
        let bucket = open(&bucket)?;
        let cas = atomics::Cas::new(&bucket, &key).map_err(text)?;
        let current = match cas.current().map_err(text)? {
            None => 0,
            Some(bytes) => utf8(bytes)
                .parse::<i64>()
                .map_err(|e| format!("not a number: {e}"))?,
        };
        match atomics::swap(cas, (current + 1).to_string().as_bytes()) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(text(e)),
        }
    }

    fn touch(bucket: String, key: String) -> Result<u32, String> {
        let bucket = open(&bucket)?;
        let read = bucket.get(&key).map_err(text)?;
        bucket.set(&key, b"touched").map_err(text)?;
        Ok(read.map_or(0, |v| v.len() as u32))
    }

    fn keys(bucket: String) -> Result<Vec<String>, String> {
        let bucket = open(&bucket)?;
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = bucket.list_keys(cursor.as_deref()).map_err(text)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    fn batch(bucket: String, prefix: String, n: u32) -> Result<Vec<Option<String>>, String> {
        let bucket = open(&bucket)?;
        let entries: Vec<(String, Vec<u8>)> = (0..n)
            .map(|i| (format!("{prefix}-{i}"), i.to_string().into_bytes()))
            .collect();
        batch::set_many(&bucket, &entries).map_err(text)?;
        let mut wanted: Vec<String> = entries.into_iter().map(|(key, _)| key).collect();
        wanted.push(format!("{prefix}-missing"));
        let found = batch::get_many(&bucket, &wanted).map_err(text)?;
        Ok(found
            .into_iter()
            .map(|entry| entry.map(|(_, value)| utf8(value)))
            .collect())
    }
}

export!(Keeper);
