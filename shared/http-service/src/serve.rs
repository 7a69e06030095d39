//! Serving one request: the same named steps for every component.
//!
//! 1. [`begin`]: the request id, the variables and logger, the method, path and query, and
//!    the route the path resolves to.
//! 2. [`read_body`]: the body within `max_body_bytes` (413 after draining the rest), a JSON
//!    content type (415), and for services the parsed JSON (400).
//! 3. [`answer`]: a CORS preflight, or the rate limit ([`limits::admit`]) and then the
//!    route's handler (405 with `Allow`, 404, or the component's fallback).
//! 4. [`render`], [`log_request`] and [`send`].
//! 5. [`after_response`]: the component's due jobs, and the pruning of old rate-limit
//!    counters when this request used the edge database.

use std::rc::Rc;

use platform::LogLevel;
use platform::variables::names::MAX_BODY_BYTES;
use serde_json::json;
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};

use crate::body::{self, DEFAULT_MAX_BODY_BYTES};
use crate::context::Shared;
use crate::render::{Rendered, render};
use crate::request_id::{REQUEST_ID_HEADER, request_id_from};
use crate::routes::Resolved;
use crate::{ApiError, ApiResult, JobContext, RequestContext, Routes, ServiceSpec, cors, limits};

/// Serves one request of the component `spec` describes, answering through `out`.
pub async fn serve(spec: &'static ServiceSpec, incoming: IncomingRequest, out: ResponseOutparam) {
    let routes = (spec.routes)();
    let (mut ctx, resolution) = begin(spec, &incoming, &routes);
    let read = read_body(&mut ctx, incoming).await;
    let ctx = Rc::new(ctx);
    let (outcome, limit_headers) = match read {
        Ok(()) => answer(&ctx, resolution).await,
        Err(error) => (Err(error), Vec::new()),
    };
    let mut rendered = render(&ctx, &outcome);
    rendered.headers.extend(limit_headers);
    let relayed_cors = rendered
        .headers
        .iter()
        .any(|(name, _)| name == "access-control-allow-origin");
    if !relayed_cors {
        rendered.headers.extend(cors::response_headers(&ctx));
    }
    log_request(&ctx, &rendered, &outcome);
    send(out, rendered).await;
    after_response(&ctx).await;
}

/// Identifies the request and resolves its route. Routes see the path as the client sent it:
/// Spin's `spin-path-info` is the part below the component's own route, which differs between
/// layouts (and a client may send one of its own).
fn begin<'r>(
    spec: &'static ServiceSpec,
    incoming: &IncomingRequest,
    routes: &'r Routes,
) -> (RequestContext, Resolved<'r>) {
    let headers = incoming.headers().entries();
    let client_request_id = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(REQUEST_ID_HEADER))
        .and_then(|(_, value)| std::str::from_utf8(value).ok());
    let shared = Shared::new(spec, request_id_from(client_request_id));
    let path_with_query = incoming
        .path_with_query()
        .unwrap_or_else(|| "/".to_string());
    let (path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (path_with_query, None),
    };
    let method = incoming.method();
    let mut ctx = RequestContext::new(shared, method.clone(), path, query);
    ctx.headers = headers;
    let resolution = routes.resolve(&method.to_string(), &ctx.path);
    if let Resolved::Found(_, params) = &resolution {
        ctx.params = params.clone();
    }
    (ctx, resolution)
}

/// Reads the body into the context: within the limit, JSON if anything, parsed for services.
async fn read_body(ctx: &mut RequestContext, incoming: IncomingRequest) -> Result<(), ApiError> {
    let limit = ctx
        .variables()
        .u64(MAX_BODY_BYTES)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let declared = ctx
        .header("content-length")
        .and_then(|value| value.trim().parse::<u64>().ok());
    ctx.body = body::read(incoming, declared, limit).await?;
    if ctx.body.is_empty() {
        return Ok(());
    }
    if !body::is_json_content_type(ctx.header("content-type").unwrap_or_default()) {
        return Err(ApiError::unsupported_media_type());
    }
    if ctx.spec().reads_json() {
        let json = serde_json::from_slice(&ctx.body).map_err(|error| {
            ApiError::bad_request("Malformed JSON body")
                .with_details(json!({ "reason": error.to_string() }))
        })?;
        ctx.json = Some(json);
    }
    Ok(())
}

/// A CORS preflight, or the rate limit and then the route's handler; with the rate-limit
/// headers to add to whatever the answer is.
async fn answer(
    ctx: &Rc<RequestContext>,
    resolution: Resolved<'_>,
) -> (ApiResult, limits::LimitHeaders) {
    // No route answers OPTIONS, so on a routed path it resolves to the path's methods.
    if matches!(ctx.method(), Method::Options)
        && let Resolved::MethodNotAllowed(methods) = &resolution
    {
        return (cors::preflight(ctx, methods), Vec::new());
    }
    let headers = match limits::admit(ctx) {
        Ok(headers) => headers,
        Err(error) => return (Err(error), Vec::new()),
    };
    let outcome = match resolution {
        Resolved::Found(handler, _) => handler(ctx.clone()).await,
        Resolved::MethodNotAllowed(mut allowed) => {
            // Every routed path also answers CORS preflights.
            allowed.push("OPTIONS".to_string());
            Err(ApiError::method_not_allowed(&allowed))
        }
        Resolved::NotFound => Err(ApiError::not_found("Route not found")
            .with_details(json!({ "method": ctx.method().to_string(), "path": ctx.path() }))),
    };
    (outcome, headers)
}

fn log_request(ctx: &RequestContext, rendered: &Rendered, outcome: &ApiResult) {
    let mut fields = json!({
        "method": ctx.method().to_string(),
        "path": ctx.path(),
        "status": rendered.status,
        "durationMs": ctx.elapsed_millis(),
    });
    let level = match outcome {
        Err(error) => {
            fields["error"] = json!(error.code.as_contract_str());
            if let Some(cause) = &error.cause {
                fields["cause"] = json!(cause);
            }
            if error.status() >= 500 {
                LogLevel::Error
            } else {
                LogLevel::Info
            }
        }
        Ok(_) => LogLevel::Info,
    };
    ctx.logger().log(level, "request", fields);
}

async fn send(out: ResponseOutparam, rendered: Rendered) {
    let headers: Vec<(String, Vec<u8>)> = rendered
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(rendered.status);
    if let Err(error) = out.set_with_body(response, rendered.body).await {
        eprintln!("could not send the response: {error:?}");
    }
}

/// The component's due jobs, then old rate-limit counters if this request used the edge
/// database (to count, or to read a session).
async fn after_response(ctx: &RequestContext) {
    let jobs = (ctx.spec().jobs)();
    jobs.run_due(&JobContext::after(&ctx.shared)).await;
    if ctx.shared.edge.was_opened() {
        limits::prune_stale_counters(ctx);
    }
}
