//! Forwarding a public request to its service.

use std::rc::Rc;

use response_handler::{ApiError, ApiResult, Reply, RequestContext};
use service_client::upstream_timeout;

use crate::table::{Access, GatewayRoute, fill_path};

/// Headers that describe one connection, not the request, and never cross the gateway;
/// `x-user-*` would let a client claim an identity, a client's `x-forwarded-for` a different
/// address (the gateway sets its own), and a service token is for calls between services.
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

/// Headers of the service's answer that the client should see.
const RELAYED_RESPONSE_HEADERS: [&str; 6] = [
    "x-service",
    "x-version",
    "allow",
    "retry-after",
    "location",
    "idempotent-replayed",
];

/// Checks access, rewrites the path and relays the service's status and envelope.
pub async fn forward(route: GatewayRoute, ctx: Rc<RequestContext>) -> ApiResult {
    match route.access {
        Access::Anyone => {}
        Access::User => {
            ctx.identity()?;
        }
        Access::Admin => {
            ctx.admin()?;
        }
    }
    // Route parameters are never empty (empty path segments do not match one).
    let path = fill_path(route.upstream_path, |name| {
        Some(ctx.param(name).to_string()).filter(|value| !value.is_empty())
    })
    .ok_or_else(|| ApiError::internal(format!("route {} lacks a parameter", route.public)))?;
    let path_and_query = match ctx.raw_query() {
        Some(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path,
    };
    let mut headers: Vec<(String, Vec<u8>)> = ctx
        .headers()
        .iter()
        .filter(|(name, _)| forwardable(name))
        .cloned()
        .collect();
    if let Some(client) = ctx.header("spin-client-addr") {
        let ip = client
            .parse::<std::net::SocketAddr>()
            .map_or_else(|_| client.to_string(), |socket| socket.ip().to_string());
        headers.push(("x-forwarded-for".into(), ip.into_bytes()));
    }
    let body = ctx.body();
    let body = (!body.is_empty()).then(|| body.to_vec());
    let upstream = route
        .upstream
        .client(upstream_timeout())
        .send(&ctx, ctx.method().clone(), &path_and_query, &headers, body)
        .await?;
    let mut reply = Reply::passthrough(upstream.status, upstream.body);
    for (name, value) in upstream.headers {
        if RELAYED_RESPONSE_HEADERS
            .iter()
            .any(|relayed| name.eq_ignore_ascii_case(relayed))
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
            "X-User-Context",
            "Connection",
            "Transfer-Encoding",
            "Host",
            "spin-path-info",
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
            "user-agent",
            "authorization",
        ] {
            assert!(forwardable(name), "{name}");
        }
    }
}
