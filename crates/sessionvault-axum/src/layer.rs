//! The tower layer: a session per request, saved after the handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use sessionvault::session::find_cookie;
use sessionvault::{RequestMeta, SessionManager};
use tower::{Layer, Service};

use crate::SessionError;

/// Adds a session to every request; see the crate docs.
#[derive(Clone, Debug)]
pub struct SessionLayer {
    manager: SessionManager,
}

impl SessionLayer {
    /// A layer over `manager`.
    pub fn new(manager: SessionManager) -> Self {
        Self { manager }
    }

    /// The manager, for administrative calls (revoking a user's sessions).
    pub fn manager(&self) -> &SessionManager {
        &self.manager
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            manager: self.manager.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around a route.
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    manager: SessionManager,
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let name = self.manager.config().cookie().name();
        let incoming = find_cookie(
            request
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .map(HeaderValue::as_bytes),
            name,
        );
        let meta = RequestMeta {
            user_agent: request
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ip: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        };
        let session = self.manager.session(incoming, meta);
        request.extensions_mut().insert(session.clone());
        // The clone that was polled ready is the one to call (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            if !session.is_loaded() {
                // The handler never touched the session: nothing to save, nothing to add.
                return Ok(response);
            }
            // Boxed so that the save path's state does not bloat every request's future.
            match Box::pin(session.commit()).await {
                Ok(set_cookie) => {
                    if let Some(value) = set_cookie.and_then(|v| HeaderValue::try_from(v).ok()) {
                        response.headers_mut().append(header::SET_COOKIE, value);
                    }
                }
                Err(error) => {
                    let ended = matches!(error, sessionvault::Error::SessionEnded);
                    response = SessionError(error).into_response();
                    if ended {
                        let clear = session.clear_cookie_header();
                        if let Ok(value) = HeaderValue::try_from(clear) {
                            response.headers_mut().append(header::SET_COOKIE, value);
                        }
                    }
                }
            }
            // A response that depends on the session must not be cached or shared.
            let headers = response.headers_mut();
            headers.append(header::VARY, HeaderValue::from_static("Cookie"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        })
    }
}
