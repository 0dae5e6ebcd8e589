//! Request guards that apply to every route: cross-site server-function
//! calls are refused, and every response carries the security headers that
//! do not depend on the page (the Content-Security-Policy, which carries the
//! page's nonce, is set by the app while rendering).

use crate::origin::same_site_request;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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
