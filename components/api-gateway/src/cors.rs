//! CORS: origins allowed by the `cors_allowed_origins` variable (comma-separated, `*` for
//! any); the gateway answers preflights itself.

use std::rc::Rc;

use response_handler::{ApiError, ApiResult, Reply, RequestContext};

use crate::table::ROUTES;

const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, X-Request-ID";
const EXPOSED_HEADERS: &str = "X-Request-ID, X-Response-Time, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset";

/// The request's `Origin` if the deployment allows it.
fn allowed_origin(ctx: &RequestContext) -> Option<String> {
    let origin = ctx.header("origin")?.trim();
    let allowed = spin_sdk::variables::get("cors_allowed_origins").unwrap_or_default();
    allowed
        .split(',')
        .map(str::trim)
        .any(|entry| entry == "*" || (!entry.is_empty() && entry.eq_ignore_ascii_case(origin)))
        .then(|| origin.to_string())
}

/// The gateway's `decorate` hook: CORS headers on every response to an allowed origin.
pub fn decorate(ctx: &RequestContext, headers: &mut Vec<(String, String)>) {
    if let Some(origin) = allowed_origin(ctx) {
        headers.push(("access-control-allow-origin".into(), origin));
        headers.push((
            "access-control-expose-headers".into(),
            EXPOSED_HEADERS.into(),
        ));
        headers.push(("vary".into(), "Origin".into()));
    }
}

/// The methods a public path pattern accepts.
pub fn methods_for(pattern: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| r.public == pattern)
        .map(|r| r.method)
        .collect();
    if pattern == "/health" || pattern == "/api/openapi.json" {
        methods.push("GET");
    }
    methods
}

/// `OPTIONS` on a known path: 204 with the allowed methods and headers, or 403 for an origin
/// the deployment does not allow.
pub async fn preflight(pattern: &'static str, ctx: Rc<RequestContext>) -> ApiResult {
    if allowed_origin(&ctx).is_none() {
        return Err(ApiError::forbidden("Origin not allowed"));
    }
    let methods = methods_for(pattern).join(", ");
    Ok(Reply::no_content()
        .header("access-control-allow-methods", methods)
        .header("access-control-allow-headers", ALLOWED_HEADERS)
        .header("access-control-max-age", "600"))
}
