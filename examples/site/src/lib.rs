//! A small web site as a wasi:http component: `GET /` is a page that counts its visits in
//! the host's key-value store (bucket `site`, granted in tsdev.toml), `GET /visits` the
//! count as JSON. tsdev serves it under `/site/`, one fresh instance per request.

use sdk_guest::kv::Bucket;
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Site;

wasi::http::proxy::export!(Site);

/// The key the visits of the page are counted under.
const VISITS: &str = "visits";

impl Guest for Site {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        // Where tsdev mounted the site (`/site`, or `/t/TENANT/site`), for links.
        let mounted = request
            .headers()
            .get("x-forwarded-prefix")
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let answer = match (request.method(), path) {
            (Method::Get, "/") => count(1).map(|n| page(n, &mounted)),
            (Method::Get, "/visits") => count(0).map(|n| Answer {
                status: 200,
                content_type: "application/json",
                body: format!("{{\"visits\":{n}}}"),
            }),
            (Method::Get, _) => Ok(text(404, format!("nothing at {path}\n"))),
            _ => Ok(text(405, "only GET here\n".into())),
        };
        let answer = answer.unwrap_or_else(|e| text(500, format!("{e}\n")));
        respond(response_out, answer);
    }
}

struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
}

fn text(status: u16, body: String) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    }
}

/// Add `delta` to the visits and answer the count.
fn count(delta: i64) -> Result<i64, String> {
    let bucket = Bucket::open("site").map_err(|e| format!("opening bucket site: {e:?}"))?;
    bucket
        .increment(VISITS, delta)
        .map_err(|e| format!("counting: {e:?}"))
}

fn page(visits: i64, mounted: &str) -> Answer {
    Answer {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>site</title></head>\n\
             <body><h1>Hello from a wasi:http component</h1>\n\
             <p>This page has been seen {visits} times (<a href=\"{mounted}/visits\">as JSON</a>).</p>\n\
             </body></html>\n"
        ),
    }
}

fn respond(response_out: ResponseOutparam, answer: Answer) {
    let headers = Fields::new();
    // A valid name and value: this cannot fail.
    let _ = headers.set("content-type", &[answer.content_type.as_bytes().to_vec()]);
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(answer.status);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = body.write() {
        // A blocking write takes 4,096 bytes at most; a client gone away fails it.
        for piece in answer.body.as_bytes().chunks(4096) {
            if stream.blocking_write_and_flush(piece).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}
