//! The HTTP listener (`[http] listen`, `serve --http`; off by default): HTTP/1.1 over hyper on
//! the I/O runtime, for operators and monitoring, never for DNS clients.
//!
//! - `GET /metrics`: Prometheus text ([`metrics`]);
//! - `GET /api/stats`: a JSON object (`queries_total`, `queries_per_second`, rcodes, drops,
//!   cache, resolver, upstreams, zones...: [`Sources::stats`]);
//! - `GET /api/alerts`: a JSON list of the current alerts ([`Sources::alerts_json`]);
//! - `GET /`: the dashboard (HTML, CSS and JS built in; it polls the two APIs every second).
//!
//! With `[http] token-file`, every request but `GET /` (a static page holding no data) must
//! carry `Authorization: Bearer TOKEN`, else 401; the token is compared through SHA-256 digests
//! so that the comparison's time says nothing about it. Connections are bounded
//! ([`MAX_CONNECTIONS`]), must send their headers within [`HEADER_TIMEOUT`] and live at most
//! [`CONNECTION_LIFETIME`].

pub mod metrics;

use crate::stats::{unix_millis, Sources};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// Time allowed for a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection (a scraper that keeps its connection open reconnects).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// How long a stopping listener waits for its connections to finish their requests.
pub const DRAIN: Duration = Duration::from_secs(5);

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const DASHBOARD_CSS: &str = include_str!("dashboard.css");
const DASHBOARD_JS: &str = include_str!("dashboard.js");

/// What the listener serves from.
pub struct HttpState {
    /// The numbers.
    pub sources: Arc<Sources>,
    /// SHA-256 of the bearer token, when one is required.
    pub token_digest: Option<Vec<u8>>,
}

impl HttpState {
    /// State requiring `token` (if any).
    pub fn new(sources: Arc<Sources>, token: Option<&str>) -> Self {
        Self { sources, token_digest: token.map(digest) }
    }

    fn authorised(&self, request: &Request<Incoming>) -> bool {
        let Some(wanted) = &self.token_digest else { return true };
        let given = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        // Digests of equal length, compared whole.
        given.is_some_and(|token| digest(token.trim()).iter().zip(wanted).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
    }
}

fn digest(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Binds `addr` (a failure is the caller's error to report).
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `stopping` turns true (the server stops or an upgrade's new process took the
/// listener over): then it stops accepting, lets every connection finish the request it is
/// answering and closes it (hyper's graceful shutdown: no reset, no half answer; an idle
/// keep-alive connection is closed at once), and returns once all are closed, at most
/// [`DRAIN`] later.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, mut stopping: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "http accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (state, stopping) = (state.clone(), stopping.clone());
        tokio::spawn(async move {
            connection(stream, state, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("http: connections still open after the drain time");
    }
}

/// Serves one connection for at most [`CONNECTION_LIFETIME`], shut down gracefully once
/// `stopping` turns true.
async fn connection(stream: tokio::net::TcpStream, state: Arc<HttpState>, mut stopping: watch::Receiver<bool>) {
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(respond(&state, &request)) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let served = tokio::time::timeout(CONNECTION_LIFETIME, async {
        tokio::select! {
            result = connection.as_mut() => return result,
            _ = stopping.wait_for(|stop| *stop) => {}
        }
        connection.as_mut().graceful_shutdown();
        connection.as_mut().await
    });
    match served.await {
        Ok(Err(error)) => tracing::debug!(%error, "http connection ended"),
        Err(_) => tracing::debug!("http connection closed after its lifetime"),
        Ok(Ok(())) => {}
    }
}

/// The answer to one request.
pub fn respond(state: &HttpState, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "only GET and HEAD\n".into());
    }
    if path == "/" || path == "/index.html" {
        return reply(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD_HTML.into());
    }
    if path == "/dashboard.css" {
        return reply(StatusCode::OK, "text/css; charset=utf-8", DASHBOARD_CSS.into());
    }
    if path == "/dashboard.js" {
        return reply(StatusCode::OK, "text/javascript; charset=utf-8", DASHBOARD_JS.into());
    }
    let known = matches!(path, "/metrics" | "/api/stats" | "/api/alerts");
    if !known {
        return reply(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n".into());
    }
    if !state.authorised(request) {
        let mut response = reply(StatusCode::UNAUTHORIZED, "text/plain; charset=utf-8", "a bearer token is required\n".into());
        response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
        return response;
    }
    let sources = &state.sources;
    match path {
        "/metrics" => match metrics::render(sources) {
            Ok(text) => reply(StatusCode::OK, prometheus_client::encoding::prometheus_text::CONTENT_TYPE, text),
            Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "metrics could not be encoded\n".into()),
        },
        "/api/stats" => json(&sources.stats(unix_millis() / 1000)),
        _ => json(&sources.alerts_json()),
    }
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    reply(StatusCode::OK, "application/json", format!("{value}\n"))
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
