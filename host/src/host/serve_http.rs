//! Serving a request with a `wasi:http/incoming-handler` component: one fresh instance per
//! request, in one of the tenant's instance slots, under the deployment's limits and with
//! its grants, like a procedure call. The response goes back as soon as the handler sets
//! it; its body streams from the instance, which runs on until it has written the body or
//! reaches its deadline. A body the handler did not finish (it trapped, ran out of fuel or
//! time) ends in an error, so the caller's connection is cut rather than the body looking
//! whole.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::Host;
use super::call::{CallError, account, admit_call};
use crate::error_kind::ErrorKind;
use crate::registry::Deployment;
use crate::runtime::{CallContext, CallFailure, CallParams, Target, handle_params};

/// Why a request got no response from its handler.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Not let in (a quota), or the call failed (a trap, the deadline, fuel, memory).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The handler returned without setting a response, or set an error code instead.
    #[error("{0}")]
    NoResponse(String),
}

impl Host {
    /// Serve `request`, addressed to the wasi:http component `deployment` of `tenant`, with
    /// the path (and query) its handler sees already in its URI.
    pub async fn serve_http<B>(
        &self,
        tenant: &str,
        deployment: Arc<Deployment>,
        request: hyper::Request<B>,
        context: CallContext,
    ) -> Result<hyper::Response<HyperOutgoingBody>, ServeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let started = std::time::Instant::now();
        let label = format!("{} (wasi:http)", deployment.name);
        let answer = self.serve_http_unmeasured(tenant, deployment, request, context, &label);
        let answer = answer.await;
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(ServeError::NoResponse(_)) => ErrorKind::NoResponse.as_str(),
            Err(ServeError::Call(CallError::Quota(_))) => ErrorKind::QuotaExceeded.as_str(),
            Err(ServeError::Call(CallError::Failure(failure))) => failure.kind().as_str(),
            Err(ServeError::Call(_)) => ErrorKind::Internal.as_str(),
        };
        crate::metrics::metrics().call(tenant, &label, outcome, started.elapsed());
        answer
    }

    async fn serve_http_unmeasured<B>(
        &self,
        tenant: &str,
        deployment: Arc<Deployment>,
        request: hyper::Request<B>,
        context: CallContext,
        label: &str,
    ) -> Result<hyper::Response<HyperOutgoingBody>, ServeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let no_handler = || {
            CallError::Failure(CallFailure::Host(format!(
                "component {} serves no HTTP",
                deployment.name
            )))
        };
        if deployment.http.is_none() {
            return Err(no_handler().into());
        }
        let host = self
            .me
            .upgrade()
            .ok_or_else(|| CallFailure::Host("the host is shutting down".into()))
            .map_err(CallError::from)?;
        let quotas = self.tenancy.quotas(tenant);
        let usage = self.tenancy.usage(tenant, &quotas);
        let slot = admit_call(tenant, &quotas, &usage)?;
        let limits = deployment.limits;
        let capabilities = self.capabilities(tenant, &deployment, &quotas, &context, limits);
        let (params, answer) = handle_params(request, Scheme::Http);
        let label = label.to_string();
        let (ended, call_ended) = tokio::sync::oneshot::channel();
        // Its own task: the call goes on writing the body after the response has gone back.
        let call = tokio::spawn(async move {
            let _slot = slot;
            let Some(handler) = deployment.http.as_ref() else {
                return Err(CallFailure::Host("no handler".into()));
            };
            let outcome = host
                .runtime
                .invoke_with(
                    Target {
                        pre: &deployment.pre,
                        export: &handler.export,
                        procedure: &label,
                        result_count: 0,
                    },
                    CallParams::MadeInStore(params),
                    limits,
                    &context,
                    capabilities,
                    Some(account(usage)),
                )
                .await
                .map(drop);
            let _ = ended.send(outcome.is_ok());
            outcome
        });
        // Until the response is set, a caller that goes away stops the call.
        let mut call = AbortUnlessDetached(Some(call));
        match answer.await {
            Ok(Ok(response)) => {
                call.detach();
                Ok(response.map(|body| {
                    CheckedBody {
                        body,
                        call_ended: Some(call_ended),
                    }
                    .boxed_unsync()
                }))
            }
            Ok(Err(code)) => Err(ServeError::NoResponse(format!(
                "the handler answered with the error {code:?} instead of a response"
            ))),
            // The call ended without setting a response: how it ended says why.
            Err(_) => match call.join().await {
                Some(Err(failure)) => Err(CallError::Failure(failure).into()),
                _ => Err(ServeError::NoResponse(
                    "the handler returned without setting a response".into(),
                )),
            },
        }
    }
}

/// A handler's response body, which ends well only if the call does: wasmtime ends a body
/// whose handler went away (its store dropped) as if it were complete.
struct CheckedBody {
    body: HyperOutgoingBody,
    /// Told whether the call succeeded, when it ends.
    call_ended: Option<tokio::sync::oneshot::Receiver<bool>>,
}

impl Body for CheckedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(frame) = ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            return Poll::Ready(Some(frame));
        }
        // The body ended: as the handler finished it, or because the call failed.
        let Some(call_ended) = self.call_ended.as_mut() else {
            return Poll::Ready(None);
        };
        let succeeded = ready!(Pin::new(call_ended).poll(cx)).unwrap_or(false);
        self.call_ended = None;
        if succeeded {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                "the handler failed before it finished the body".into(),
            )))))
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A call's task, aborted when dropped unless detached.
struct AbortUnlessDetached(Option<tokio::task::JoinHandle<Result<(), CallFailure>>>);

impl AbortUnlessDetached {
    fn detach(&mut self) {
        self.0.take();
    }

    /// How the call ended (None: its task failed).
    async fn join(&mut self) -> Option<Result<(), CallFailure>> {
        self.0.take()?.await.ok()
    }
}

impl Drop for AbortUnlessDetached {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}
