//! A component that sends HTTP requests through wasi:http/outgoing-handler (bindings from
//! the `wasi` crate), for the runtime tests of outbound HTTP grants.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "fetcher",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use exports::test::fetcher::web::{Fetched, Guest};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

struct Fetcher;

/// A request for `url`.
fn request(method: &Method, url: &str) -> Result<OutgoingRequest, String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(format!("not an http(s) URL: {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(method).map_err(|()| "method")?;
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "path")?;
    Ok(request)
}

/// Send `method` to `url` with `body` (written `chunk` bytes at a time).
fn send(method: Method, url: &str, body: &[u8], chunk: usize) -> Result<Fetched, String> {
    let request = request(&method, url)?;
    let outgoing = request.body().map_err(|()| "body")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = outgoing.write().map_err(|()| "write")?;
        for part in body.chunks(chunk.max(1)) {
            stream
                .blocking_write_and_flush(part)
                .map_err(|e| format!("writing the body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let incoming = response.consume().map_err(|()| "consume")?;
    let mut read = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| "stream")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(bytes) => read.extend(bytes),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!("reading the body: {}", e.to_debug_string()));
                }
            }
        }
    }
    Ok(Fetched {
        status,
        body: String::from_utf8_lossy(&read).into_owned(),
    })
}

impl Guest for Fetcher {
    fn get(url: String) -> Result<Fetched, String> {
        send(Method::Get, &url, &[], 1)
    }

    fn burst(url: String, n: u32) -> Vec<String> {
        let pending: Vec<_> = (0..n)
            .map(|_| {
                let request = request(&Method::Get, &url)?;
                outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))
            })
            .collect();
        pending
            .into_iter()
            .map(|pending| {
                let pending = pending?;
                pending.subscribe().block();
                match pending.get() {
                    Some(Ok(Ok(response))) => Ok(response.status().to_string()),
                    Some(Ok(Err(e))) => Err(format!("{e:?}")),
                    _ => Err("no response".to_string()),
                }
            })
            .map(|answer: Result<String, String>| answer.unwrap_or_else(|e| e))
            .collect()
    }

    fn post(url: String, body: String, chunk: u32) -> Result<Fetched, String> {
        send(Method::Post, &url, body.as_bytes(), chunk as usize)
    }
}

export!(Fetcher);
