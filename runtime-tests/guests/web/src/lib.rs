//! A wasi:http component (`wasi:http/incoming-handler`, bindings from the `wasi` crate, no
//! tsdev SDK), for the runtime tests of serving wasi:http components:
//!
//! - `GET /hello`: what the handler saw (method, path and query, the mounted prefix).
//! - `POST /echo`: the request body streamed back as it arrives.
//! - `GET /auth`: the `Authorization` header it got, or `none`.
//! - `GET /big?kib=N`: N KiB written in 64 KiB chunks.
//! - `GET /trap`: panics; `GET /spin`: never ends; `GET /none`: sets no response;
//!   `GET /cut`: panics after writing part of its body.
//! - anything else: 404 from the handler itself.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::{OutputStream, StreamError};

struct Web;

wasi::http::proxy::export!(Web);

impl Guest for Web {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let route = path.split('?').next().unwrap_or_default().to_string();
        match (request.method(), route.as_str()) {
            (Method::Get, "/hello") => {
                let prefix = request
                    .headers()
                    .get("x-forwarded-prefix")
                    .first()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                let text = format!("hello: GET {path} under {prefix}");
                respond(response_out, 200, "text/plain", &[text.as_bytes()]);
            }
            (Method::Post, "/echo") => echo(request, response_out),
            (Method::Get, "/auth") => {
                let got = request
                    .headers()
                    .get("authorization")
                    .first()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_else(|| "none".into());
                respond(response_out, 200, "text/plain", &[got.as_bytes()]);
            }
            (Method::Get, "/big") => {
                let kib: usize = path
                    .split_once("kib=")
                    .and_then(|(_, n)| n.parse().ok())
                    .unwrap_or(1);
                let chunk = vec![b'x'; 64 << 10];
                let mut chunks = Vec::new();
                let mut left = kib << 10;
                while left > 0 {
                    let n = left.min(chunk.len());
                    chunks.push(&chunk[..n]);
                    left -= n;
                }
                respond(response_out, 200, "application/octet-stream", &chunks);
            }
            (Method::Get, "/trap") => panic!("the web handler panicked on purpose"),
            (Method::Get, "/spin") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            (Method::Get, "/none") => drop(response_out),
            (Method::Get, "/cut") => {
                let response = OutgoingResponse::new(Fields::new());
                let body = response.body().expect("the body, once");
                ResponseOutparam::set(response_out, Ok(response));
                let stream = body.write().expect("the body's stream, once");
                write_all(&stream, &[b'x'; 10_000]);
                panic!("the web handler panicked in the middle of its body");
            }
            _ => respond(response_out, 404, "text/plain", &[b"no such page"]),
        }
    }
}

/// Answer with `status`, `content_type` and the body written chunk by chunk.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, chunks: &[&[u8]]) {
    let headers = Fields::new();
    headers
        .set("content-type", &[content_type.as_bytes().to_vec()])
        .expect("a valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = body.write().expect("the body's stream, once");
        for chunk in chunks {
            write_all(&stream, chunk);
        }
    }
    OutgoingBody::finish(body, None).expect("finishing the body");
}

/// Stream the request body back as it arrives.
fn echo(request: IncomingRequest, out: ResponseOutparam) {
    let incoming = request.consume().expect("the request body, once");
    let input = incoming.stream().expect("its stream, once");
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    {
        let output = body.write().expect("the body's stream, once");
        loop {
            match input.blocking_read(64 << 10) {
                Ok(bytes) => write_all(&output, &bytes),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    panic!("reading the request body: {}", e.to_debug_string())
                }
            }
        }
    }
    OutgoingBody::finish(body, None).expect("finishing the body");
}

/// Write `bytes` to `stream`, waiting for room (a blocking write takes 4,096 bytes at most).
fn write_all(stream: &OutputStream, bytes: &[u8]) {
    for piece in bytes.chunks(4096) {
        stream.blocking_write_and_flush(piece).expect("writing the body");
    }
}
