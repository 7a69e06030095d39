//! Gateway handlers.

use std::rc::Rc;

use response_handler::{ApiError, ApiResult, Reply, RequestContext};
use serde_json::{Map, Value, json};
use service_client::upstream_timeout;
use spin_sdk::http::Method;

use crate::upstreams::UPSTREAMS;

/// `GET /health`: every service checked at once, each bounded by the upstream timeout.
pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    let timeout = upstream_timeout();
    let checks = UPSTREAMS.iter().map(|upstream| {
        let ctx = ctx.clone();
        async move {
            let started = envelope::now_millis();
            let outcome = upstream
                .client(timeout)
                .send(&ctx, Method::Get, "/health", &[], None)
                .await;
            let response_time = envelope::now_millis() - started;
            let mut check = Map::new();
            let healthy = matches!(&outcome, Ok(answer) if answer.is_success());
            check.insert(
                "status".into(),
                json!(if healthy { "healthy" } else { "unhealthy" }),
            );
            check.insert("responseTime".into(), json!(response_time));
            match outcome {
                Ok(answer) if !answer.is_success() => {
                    check.insert("error".into(), json!(format!("status {}", answer.status)));
                }
                Err(error) => {
                    check.insert("error".into(), json!(error.message));
                }
                Ok(answer) => {
                    // A producer reports its outbox: events waiting and dead-lettered.
                    if let Ok(Value::Object(data)) = answer.data::<Value>(upstream.component)
                        && let Some(outbox) = data.get("outbox")
                    {
                        check.insert("outbox".into(), outbox.clone());
                    }
                }
            }
            (upstream.health_key, healthy, Value::Object(check))
        }
    });
    let results = futures::future::join_all(checks).await;
    let all_healthy = results.iter().all(|(_, healthy, _)| *healthy);
    let map: Map<String, Value> = results
        .into_iter()
        .map(|(key, _, check)| (key.to_string(), check))
        .collect();
    if all_healthy {
        Ok(Reply::ok(&map, "All services healthy"))
    } else {
        Err(ApiError::service_unavailable("Some services are unhealthy")
            .with_details(Value::Object(map)))
    }
}

/// The OpenAPI document (from `openapi.yaml`, converted at build time).
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// `GET /api/openapi.json`: the document itself, not enveloped, so tools can read it.
pub async fn openapi(_ctx: Rc<RequestContext>) -> ApiResult {
    Ok(Reply::passthrough(200, OPENAPI_JSON.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::OPENAPI_JSON;

    /// Every route of the gateway's table is in `openapi.yaml`, and nothing else is.
    #[test]
    fn openapi_document_matches_the_routing_table() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert_eq!(document["openapi"], "3.1.0");
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, operations)| {
                operations
                    .as_object()
                    .into_iter()
                    .flat_map(|ops| ops.keys())
                    .map(move |method| (method.to_ascii_uppercase(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = crate::routes()
            .table()
            .into_iter()
            .map(|(method, pattern)| {
                let path = pattern
                    .split('/')
                    .map(|segment| match segment.strip_prefix(':') {
                        Some(name) => format!("{{{name}}}"),
                        None => segment.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                (method.to_string(), path)
            })
            .collect();
        assert_eq!(documented, routed);
    }
}
