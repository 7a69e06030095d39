//! Forwarding a public request to its service when the services are apps of their own.
//!
//! The path, query, method, body and the client's headers go through unchanged, but for
//! headers that describe one connection or that only the app may set: a client's
//! `X-Forwarded-For`/`Forwarded`/`X-Real-IP` (the gateway names the client itself),
//! `X-User-*`, `spin-*` and any service token. The call is signed with the gateway's service
//! token, which is what lets the service trust the `X-Forwarded-For` it carries (for its rate
//! limits); the service checks everything else itself, exactly as when Spin routes the path
//! to it directly.

use std::rc::Rc;

use http_service::{ApiError, ApiResult, Reply, RequestContext};
use platform::Service;
use serde_json::json;
use service_client::{ServiceClient, chain_timeout};

/// Whether a request header crosses the gateway: hop-by-hop headers, the client's own
/// claims of identity or origin and Spin's headers never do.
fn forwardable(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | "x-request-id"
            | "x-forwarded-for"
            | "x-real-ip"
            | "forwarded"
            | "x-service-token"
    ) && !name.starts_with("x-user-")
        && !name.starts_with("spin-")
}

/// Whether a header of the service's answer is relayed: not those the gateway sets itself
/// (or the transport does).
fn relayed(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "content-length"
            | "content-type"
            | "x-request-id"
            | "x-response-time"
            | "x-gateway"
    )
}

/// Sends the request to the service that owns its path, and relays the answer.
pub async fn forward(ctx: Rc<RequestContext>) -> ApiResult {
    let Some(service) = Service::owning(ctx.path()) else {
        return Err(ApiError::not_found("Route not found")
            .with_details(json!({ "method": ctx.method().to_string(), "path": ctx.path() })));
    };
    let path_and_query = match ctx.raw_query() {
        Some(query) if !query.is_empty() => format!("{}?{query}", ctx.path()),
        _ => ctx.path().to_string(),
    };
    let mut headers: Vec<(String, Vec<u8>)> = ctx
        .headers()
        .iter()
        .filter(|(name, _)| forwardable(name))
        .cloned()
        .collect();
    if let Some(client) = ctx.client_address() {
        headers.push(("x-forwarded-for".into(), client.to_string().into_bytes()));
    }
    let body = (!ctx.body().is_empty()).then(|| ctx.body().to_vec());
    // A service may itself wait on another: the gateway waits for that whole chain.
    let upstream = ServiceClient::to(service, ctx.variables(), chain_timeout(ctx.variables()))
        .send(
            ctx.caller(),
            ctx.method().clone(),
            &path_and_query,
            &headers,
            body,
        )
        .await?;
    let mut reply = Reply::passthrough(upstream.status, upstream.body);
    for (name, value) in upstream.headers {
        if relayed(&name)
            && let Ok(value) = String::from_utf8(value)
        {
            reply = reply.header(&name.to_ascii_lowercase(), value);
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_hop_by_hop_headers_are_not_forwarded() {
        for name in [
            "X-User-Id",
            "x-user-role",
            "Connection",
            "Transfer-Encoding",
            "Host",
            "spin-path-info",
            "spin-client-addr",
            "X-Forwarded-For",
            "Forwarded",
            "X-Service-Token",
        ] {
            assert!(!forwardable(name), "{name}");
        }
        for name in [
            "content-type",
            "idempotency-key",
            "accept",
            "authorization",
            "origin",
        ] {
            assert!(forwardable(name), "{name}");
        }
    }

    #[test]
    fn the_services_own_headers_come_back_but_not_what_the_gateway_sets() {
        for name in [
            "x-service",
            "allow",
            "retry-after",
            "x-ratelimit-limit",
            "access-control-allow-origin",
        ] {
            assert!(relayed(name), "{name}");
        }
        for name in [
            "x-request-id",
            "x-gateway",
            "content-length",
            "Transfer-Encoding",
        ] {
            assert!(!relayed(name), "{name}");
        }
    }
}
