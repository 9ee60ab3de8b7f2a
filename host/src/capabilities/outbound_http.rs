//! `wasi:http/outgoing-handler`: a procedure's HTTP requests, sent by the host only to the
//! origins its manifest grants (`[grants] outbound-http`). A request to any other origin
//! fails in the guest with `HTTP-request-denied` and is logged.
//!
//! The host resolves the name itself and connects to an address it checked: loopback,
//! private and link-local addresses are refused (`destination-IP-prohibited`) unless the
//! grant names the address itself, and the connection goes to that checked address, so a
//! name that resolves differently a moment later (DNS rebinding) cannot reach them. TLS is
//! verified against the Web PKI roots for the host name asked for.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::grants::{Grants, OutboundGrant, is_private};
use crate::limits::{
    MAX_OUTBOUND_CONNECTIONS, MAX_OUTBOUND_PER_CALL, MAX_OUTBOUND_RESPONSE_BYTES,
    OUTBOUND_CONNECT_TIMEOUT, OUTBOUND_FIRST_BYTE_TIMEOUT, OUTBOUND_TOTAL_TIMEOUT,
};
use crate::runtime::output::printable;
use crate::telemetry::traces::TraceSpan;

/// What `send_request` answers.
type Sent = Result<(http::Response<WasiBody>, IoDone), Error>;
/// Resolves when the connection is done with (an error of the response's transfer).
type IoDone = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The outbound HTTP of one call: its component's grants, who asks (for the log), and its
/// share of connections.
pub(crate) struct OutboundHttp {
    pub(crate) grants: Arc<Grants>,
    pub(crate) tenant: String,
    pub(crate) request_id: String,
    /// [`MAX_OUTBOUND_PER_CALL`] permits: one held by each exchange until its connection
    /// closes.
    pub(crate) open: Arc<Semaphore>,
}

impl OutboundHttp {
    pub(crate) fn new(grants: Arc<Grants>, tenant: String, request_id: String) -> OutboundHttp {
        OutboundHttp {
            grants,
            tenant,
            request_id,
            open: Arc::new(Semaphore::new(MAX_OUTBOUND_PER_CALL)),
        }
    }
}

/// The host's connections, all calls together ([`MAX_OUTBOUND_CONNECTIONS`]).
fn host_connections() -> Arc<Semaphore> {
    static CONNECTIONS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    CONNECTIONS
        .get_or_init(|| Arc::new(Semaphore::new(MAX_OUTBOUND_CONNECTIONS)))
        .clone()
}

/// What an exchange holds while its connection is open.
type Permits = (OwnedSemaphorePermit, OwnedSemaphorePermit);

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoDone,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        // A client span in the call's trace; the server it reaches continues it.
        let span = TraceSpan::child(SpanKind::Client, || {
            let method = request.method().to_string();
            let mut attributes = vec![
                KeyValue::new("http.request.method", method.clone()),
                KeyValue::new(
                    "server.address",
                    request.uri().host().unwrap_or("").to_string(),
                ),
            ];
            if let Some(port) = request.uri().port_u16() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
            (method, attributes)
        });
        span.pass_on(request.headers_mut());
        let uri = request.uri();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri
            .host()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let origin = format!(
            "{}://{}",
            if https { "https" } else { "http" },
            uri.authority().map_or("", |a| a.as_str())
        );
        let grant = self.grants.outbound_grant(https, &host, port);
        let (tenant, request_id) = (self.tenant.clone(), self.request_id.clone());
        // Taken now, when the guest makes the request, so that a burst is counted whole.
        let permits = self
            .open
            .clone()
            .try_acquire_owned()
            .ok()
            .zip(host_connections().try_acquire_owned().ok());
        let traced = span.clone();
        Box::new(traced.around(
            async move {
            let Some(grant) = grant else {
                tracing::warn!(
                    target: "tsdev::capabilities",
                    %tenant,
                    %request_id,
                    origin = %printable(&origin),
                    "outbound HTTP request denied: the component's manifest does not grant this origin"
                );
                return Err(Error::HttpRequestDenied);
            };
            let Some(permits) = permits else {
                tracing::warn!(
                    target: "tsdev::capabilities",
                    %tenant,
                    %request_id,
                    "outbound HTTP request refused: too many open at once"
                );
                return Err(Error::ConnectionLimitReached);
            };
            let sent = tokio::time::timeout(
                OUTBOUND_TOTAL_TIMEOUT,
                send(request, options, &grant, https, &host, port, permits),
            )
            .await
            .unwrap_or(Err(Error::ConnectionTimeout));
            match &sent {
                Ok((response, _)) => {
                    span.set("http.response.status_code", i64::from(response.status().as_u16()));
                }
                Err(_) => span.fail(),
            }
            if let Err(Error::DestinationIpProhibited) = &sent {
                tracing::warn!(
                    target: "tsdev::capabilities",
                    %tenant,
                    %request_id,
                    origin = %printable(&origin),
                    "outbound HTTP request refused: the host resolves to a private address the grant does not name"
                );
            }
            sent
        },
        ))
    }
}

/// The shorter of what the guest asked for and the host's limit.
fn within(asked: Option<Duration>, limit: Duration) -> Duration {
    asked.map_or(limit, |asked| asked.min(limit))
}

/// Resolve `host`, keep the addresses the grant allows, connect to one, and send.
async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    grant: &OutboundGrant,
    https: bool,
    host: &str,
    port: u16,
    permits: Permits,
) -> Sent {
    let connect_timeout = within(
        options.and_then(|o| o.connect_timeout),
        OUTBOUND_CONNECT_TIMEOUT,
    );
    let first_byte_timeout = within(
        options.and_then(|o| o.first_byte_timeout),
        OUTBOUND_FIRST_BYTE_TIMEOUT,
    );
    let resolved: Vec<SocketAddr> =
        tokio::time::timeout(connect_timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Error::DnsTimeout)?
            .map_err(|e| Error::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            })?
            .collect();
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|addr| !is_private(addr.ip()) || grant.names_address(addr.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(if resolved.is_empty() {
            Error::DestinationNotFound
        } else {
            Error::DestinationIpProhibited
        });
    }
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(&allowed[..]))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let stream: Box<dyn Stream> = if https {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(Error::InvalidDnsNameError)?;
        let connector = tls_connector().ok_or(Error::TlsProtocolError)?;
        let tls = tokio::time::timeout(connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    // The connection runs beside the call; it ends with the response (or the total timeout).
    let connection = tokio::spawn(async move {
        let closed = tokio::time::timeout(OUTBOUND_TOTAL_TIMEOUT, connection).await;
        drop(permits);
        closed
    });
    // The request line holds the path only (the authority is in the Host header).
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let response = response.map(|incoming| {
        LimitedBody {
            incoming,
            left: MAX_OUTBOUND_RESPONSE_BYTES,
        }
        .boxed_unsync()
    });
    let done: IoDone = Box::new(async move {
        match connection.await {
            Ok(Ok(Ok(()))) | Err(_) => Ok(()),
            Ok(Ok(Err(e))) => Err(Error::from(e)),
            Ok(Err(_)) => Err(Error::ConnectionReadTimeout),
        }
    });
    Ok((response, done))
}

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// One TLS configuration for the process: the Web PKI roots, ring's cryptography. None
/// only if ring lacked the default protocol versions (then no TLS request is sent).
fn tls_connector() -> Option<tokio_rustls::TlsConnector> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| crate::tls::client_config().map(Arc::new));
    config.clone().map(tokio_rustls::TlsConnector::from)
}

/// A response body cut off past [`MAX_OUTBOUND_RESPONSE_BYTES`].
struct LimitedBody {
    incoming: hyper::body::Incoming,
    left: u64,
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > self.left {
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                        MAX_OUTBOUND_RESPONSE_BYTES,
                    )))));
                }
                self.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
