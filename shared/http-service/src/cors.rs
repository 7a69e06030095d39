//! CORS: origins allowed by the `cors_allowed_origins` variable (comma-separated, `*` for
//! any). Every component answers the preflights of its own paths and adds the headers to its
//! answers, so a browser sees the same API whichever component serves a path.

use platform::variables::names::CORS_ALLOWED_ORIGINS;

use crate::{ApiError, ApiResult, Reply, RequestContext};

const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, X-Request-ID, X-Admin-Bootstrap-Token";
const EXPOSED_HEADERS: &str = "X-Request-ID, X-Response-Time, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Idempotent-Replayed";

/// The request's `Origin` if the deployment allows it.
fn allowed_origin(ctx: &RequestContext) -> Option<String> {
    let origin = ctx.header("origin")?.trim();
    let allowed = ctx.variables().text(CORS_ALLOWED_ORIGINS)?;
    allowed
        .split(',')
        .map(str::trim)
        .any(|entry| entry == "*" || (!entry.is_empty() && entry.eq_ignore_ascii_case(origin)))
        .then(|| origin.to_string())
}

/// CORS headers for every response to an allowed origin.
pub(crate) fn response_headers(ctx: &RequestContext) -> Vec<(String, String)> {
    match allowed_origin(ctx) {
        Some(origin) => vec![
            ("access-control-allow-origin".into(), origin),
            (
                "access-control-expose-headers".into(),
                EXPOSED_HEADERS.into(),
            ),
            ("vary".into(), "Origin".into()),
        ],
        None => Vec::new(),
    }
}

/// `OPTIONS` on a path with routes: 204 with the methods it allows, or 403 for an origin the
/// deployment does not allow.
pub(crate) fn preflight(ctx: &RequestContext, methods: &[String]) -> ApiResult {
    if allowed_origin(ctx).is_none() {
        return Err(ApiError::forbidden("Origin not allowed"));
    }
    Ok(Reply::no_content()
        .header("access-control-allow-methods", methods.join(", "))
        .header("access-control-allow-headers", ALLOWED_HEADERS)
        .header("access-control-max-age", "600"))
}
