//! {{name}}: a wasi:http component. tsdev runs `handle` in a fresh instance for every
//! request under /{{name}}/ and streams its response back.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Component;

wasi::http::proxy::export!(Component);

impl Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = route(&request.method(), &path);
        respond(response_out, status, &body);
    }
}

/// The answer to a request: plain Rust, tested without a host.
fn route(method: &Method, path_with_query: &str) -> (u16, String) {
    let path = path_with_query.split('?').next().unwrap_or_default();
    match (method, path) {
        (Method::Get, "/") => (200, "hello from {{name}}\n".into()),
        (Method::Get, _) if path.starts_with("/hello/") => {
            let name = &path["/hello/".len()..];
            (200, format!("hello, {name}!\n"))
        }
        (Method::Get, _) => (404, format!("nothing at {path}\n")),
        _ => (405, "only GET here\n".into()),
    }
}

/// Send `status` with a plain-text `body`.
fn respond(response_out: ResponseOutparam, status: u16, body: &str) {
    let headers = Fields::new();
    // Both are valid, so neither call can fail.
    let _ = headers.set("content-type", &[b"text/plain; charset=utf-8".to_vec()]);
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        // A blocking write takes 4,096 bytes at most. A client that went away fails the
        // write; there is nobody left to tell.
        for piece in body.as_bytes().chunks(4096) {
            if stream.blocking_write_and_flush(piece).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name() {
        assert_eq!(route(&Method::Get, "/hello/Ada"), (200, "hello, Ada!\n".into()));
        assert_eq!(route(&Method::Get, "/nope").0, 404);
        assert_eq!(route(&Method::Post, "/").0, 405);
    }
}
