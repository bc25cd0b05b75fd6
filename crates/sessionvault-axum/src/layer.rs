//! The tower layer: a session per request, saved after the handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use sessionvault::cookie::find_cookie;
use sessionvault::{RequestMeta, Session, SessionManager};
use tower::{Layer, Service};

use crate::{SessionError, TrustedProxies};

/// Adds a session to every request; see the crate docs.
#[derive(Clone, Debug)]
pub struct SessionLayer {
    manager: SessionManager,
    proxies: Option<Arc<TrustedProxies>>,
}

impl SessionLayer {
    /// A layer over `manager`.
    pub fn new(manager: SessionManager) -> Self {
        Self {
            manager,
            proxies: None,
        }
    }

    /// Behind reverse proxies: the client's address, which the guessing limit counts by and
    /// the fingerprint compares, is taken from the proxies' header when the connecting peer
    /// is one of `proxies` (see [`TrustedProxies::client_addr`]). Without this, every client
    /// behind a proxy has the proxy's address.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = Some(Arc::new(proxies));
        self
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
            proxies: self.proxies.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around a route.
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    manager: SessionManager,
    proxies: Option<Arc<TrustedProxies>>,
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

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
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = match &self.proxies {
            Some(proxies) => peer.map(|peer| proxies.client_addr(peer, request.headers())),
            None => peer,
        };
        let meta = RequestMeta {
            // Shares the header's bytes: read only if the handler loads the session.
            user_agent: request.headers().get(header::USER_AGENT).cloned(),
            ip,
        };
        let session = self.manager.session(incoming, meta);
        request.extensions_mut().insert(session.clone());
        ResponseFuture {
            phase: Phase::Handler {
                handler: self.inner.call(request),
                session: Some(session),
            },
        }
    }
}

pin_project! {
    /// The response future of [`SessionService`]: the handler's, then the save.
    pub struct ResponseFuture<F> {
        #[pin]
        phase: Phase<F>,
    }
}

pin_project! {
    #[project = PhaseProj]
    enum Phase<F> {
        Handler {
            #[pin]
            handler: F,
            session: Option<Session>,
        },
        // Only when the save needs the store: a read-only request never allocates this.
        Saving {
            save: Pin<Box<dyn Future<Output = Response> + Send>>,
        },
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut phase = self.project().phase;
        loop {
            match phase.as_mut().project() {
                PhaseProj::Handler { handler, session } => {
                    let response = ready!(handler.poll(cx))?;
                    let Some(session) = session.take() else {
                        // Polled after it completed (the caller's error): answer as the handler did.
                        return Poll::Ready(Ok(response));
                    };
                    if let Some(saved) = session.try_commit() {
                        return Poll::Ready(Ok(finish(&session, saved, response)));
                    }
                    let save = Box::pin(async move {
                        let saved = session.commit().await;
                        finish(&session, saved, response)
                    });
                    phase.set(Phase::Saving { save });
                }
                PhaseProj::Saving { save } => return save.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

/// The response as the save leaves it: the cookie set or cleared, or the save's error in place
/// of the handler's answer (nothing may be reported as done that was not saved).
fn finish(
    session: &Session,
    saved: Result<Option<String>, sessionvault::Error>,
    mut response: Response,
) -> Response {
    if !session.is_loaded() {
        // The handler never touched the session: nothing to save, nothing to add.
        return response;
    }
    match saved {
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
    response
}
