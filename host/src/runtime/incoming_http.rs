//! A request for a `wasi:http/incoming-handler` component, as the arguments of its
//! `handle` function: the `incoming-request` and the `response-outparam`, both resources
//! made in the call's own store. The response comes back on a channel as soon as the guest
//! sets it; its body streams from the instance while the call goes on.

use bytes::Bytes;
use http_body::Body;
use wasmtime::component::Val;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::invoke::MakeParams;

/// What a handler answers: its response, or the error code it set instead.
pub type HandlerAnswer = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;

/// Where a handler's answer arrives; closed without one if the call ends without setting it.
pub type AnswerReceiver = tokio::sync::oneshot::Receiver<HandlerAnswer>;

/// The arguments of `handle` for `request` (its URI absolute, with scheme and authority),
/// and where the answer will arrive.
pub fn handle_params<B>(request: hyper::Request<B>, scheme: Scheme) -> (MakeParams, AnswerReceiver)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let make: MakeParams = Box::new(move |store| {
        let mut http = store.data_mut().http();
        let request = http.new_incoming_request(scheme, request)?;
        let response_out = http.new_response_outparam(sender)?;
        Ok(vec![
            Val::Resource(request.try_into_resource_any(&mut *store)?),
            Val::Resource(response_out.try_into_resource_any(&mut *store)?),
        ])
    });
    (make, receiver)
}
