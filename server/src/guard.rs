//! Request guards that apply to every route: cross-site server-function
//! calls are refused, request bodies are bounded in size and requests in
//! time, and every response carries the security headers that do not depend
//! on the page (the Content-Security-Policy, which carries the page's nonce,
//! is set by the app while rendering).

use crate::origin::same_site_request;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

/// Largest HTTP request body (server function arguments are small forms).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Refuses state-changing `/api/…` requests that another site made the
/// browser send (CSRF), login included.
pub async fn refuse_cross_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state
        && request.uri().path().starts_with("/api/")
        && !same_site_request(request.headers(), &state.config.allowed_origins)
    {
        tracing::warn!(path = %request.uri().path(), "refused a cross-site request");
        return (StatusCode::FORBIDDEN, "Cross-site requests are refused.").into_response();
    }
    next.run(request).await
}

/// Headers every response gets.
pub fn static_headers() -> [(HeaderName, HeaderValue); 3] {
    [
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        // frame-ancestors in the CSP says the same to current browsers.
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
}

/// A body sent without a `Content-Length` (chunked) is read here, up to
/// [`MAX_BODY_BYTES`], before anything decodes it: past the limit the answer
/// is 413, as it is for a declared length (which `RequestBodyLimitLayer`
/// refuses before reading). Left to the server function, the cut-off body
/// failed its decoding and was answered as a malformed request.
pub async fn bound_unsized_body(request: Request, next: Next) -> Response {
    let bodiless = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if bodiless || request.headers().contains_key(header::CONTENT_LENGTH) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    let mut read = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            return (StatusCode::BAD_REQUEST, "The request body could not be read.").into_response();
        };
        if read.len() + chunk.len() > MAX_BODY_BYTES {
            return body_too_large();
        }
        read.extend_from_slice(&chunk);
    }
    next.run(Request::from_parts(parts, Body::from(read))).await
}

pub fn body_too_large() -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, "Request bodies are limited to 64 KiB.").into_response()
}

/// Every request is answered within the configured deadline: one that is
/// still waiting on something (a database, a lock, a page's data) then gets
/// 503 and its work is dropped, so nothing holds a client (or a connection
/// slot) forever. A WebSocket's life is not a request: the upgrade answers at
/// once and the socket runs in tasks of its own.
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.config.timings.request_deadline;
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(%path, seconds = limit.as_secs_f64(), "request passed its deadline");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server took too long to answer. Please try again in a moment.",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}
