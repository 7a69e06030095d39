//! `GET /health`: every service checked concurrently, each bounded by `upstream_timeout_ms`.
//!
//! The answer is kept in the key-value store `default` for `health_cache_ms` (default 1 s;
//! `0` checks every time), so that probes and monitors arriving together cost one round of
//! checks, not one each. That one key is all the app keeps in key-value (Fermyon Cloud caps
//! a store at 1,024 keys); a store that refuses it (full, or down) is logged and reported in
//! the answer as `keyValue`, and the checks run anyway.

use std::rc::Rc;

use http_service::{ApiError, ApiResult, Reply, RequestContext};
use platform::Service;
use platform::variables::names::HEALTH_CACHE_MS;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use service_client::{ServiceClient, upstream_timeout};
use spin_sdk::http::Method;
use spin_sdk::key_value::Store;

/// How long an answer is reused unless `health_cache_ms` says otherwise.
const DEFAULT_CACHE_MILLIS: u64 = 1000;
/// The key the answer is kept under.
const CACHE_KEY: &str = "gateway:health";

/// A kept answer.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    at: i64,
    healthy: bool,
    services: Map<String, Value>,
}

/// Checks one service: `(healthy, {status, responseTime, error?, outbox?})`.
async fn check(ctx: &RequestContext, service: Service) -> (bool, Value) {
    let started = platform::clock::now_millis();
    let outcome = ServiceClient::to(service, ctx.variables(), upstream_timeout(ctx.variables()))
        .send(ctx.caller(), Method::Get, "/health", &[], None)
        .await;
    let response_time = platform::clock::now_millis() - started;
    let healthy = matches!(&outcome, Ok(answer) if answer.is_success());
    let mut check = Map::new();
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
            check.insert("error".into(), json!(ApiError::from(error).message));
        }
        Ok(answer) => {
            // A producer reports its outbox: events waiting and dead-lettered.
            if let Ok(Value::Object(data)) = answer.data::<Value>()
                && let Some(outbox) = data.get("outbox")
            {
                check.insert("outbox".into(), outbox.clone());
            }
        }
    }
    (healthy, Value::Object(check))
}

async fn check_all(ctx: &RequestContext) -> Kept {
    let checks = Service::BACKENDS
        .into_iter()
        .map(|service| async move { (service, check(ctx, service).await) });
    let results = futures::future::join_all(checks).await;
    Kept {
        at: platform::clock::now_millis(),
        healthy: results.iter().all(|(_, (healthy, _))| *healthy),
        services: results
            .into_iter()
            .map(|(service, (_, check))| (service.health_key().to_string(), check))
            .collect(),
    }
}

/// The kept answer, if one is fresh; `Err` describes a store that failed.
fn kept(store: &Store, max_age: i64) -> Result<Option<Kept>, String> {
    let bytes = store.get(CACHE_KEY).map_err(|error| format!("{error:?}"))?;
    Ok(bytes
        .and_then(|bytes| serde_json::from_slice::<Kept>(&bytes).ok())
        .filter(|kept| platform::clock::now_millis() - kept.at < max_age))
}

pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    let max_age = ctx
        .variables()
        .u64_or(HEALTH_CACHE_MS, DEFAULT_CACHE_MILLIS);
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    let store = (max_age > 0).then(Store::open_default);
    let mut store_problem: Option<String> = None;
    let mut answer = None;
    match &store {
        Some(Ok(store)) => match kept(store, max_age) {
            Ok(found) => answer = found,
            Err(problem) => store_problem = Some(problem),
        },
        Some(Err(error)) => store_problem = Some(format!("{error:?}")),
        None => {}
    }
    let answer = match answer {
        Some(answer) => answer,
        None => {
            let fresh = check_all(&ctx).await;
            if let Some(Ok(store)) = &store
                && let Err(error) = serde_json::to_vec(&fresh)
                    .map_err(|error| error.to_string())
                    .and_then(|bytes| store.set(CACHE_KEY, &bytes).map_err(|e| format!("{e:?}")))
            {
                store_problem = Some(error);
            }
            fresh
        }
    };
    let mut services = answer.services;
    if let Some(problem) = store_problem {
        ctx.logger().error(
            "the key-value store refused the health answer (full or unavailable)",
            json!({ "cause": problem }),
        );
        services.insert(
            "keyValue".into(),
            json!({ "status": "unavailable", "error": "the key-value store refused a write or read" }),
        );
    }
    if answer.healthy {
        Ok(Reply::ok(&services, "All services healthy"))
    } else {
        Err(ApiError::service_unavailable("Some services are unhealthy")
            .with_details(Value::Object(services)))
    }
}
