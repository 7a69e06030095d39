//! Rate limits per client address (`rate_limit_per_minute`) and per user
//! (`rate_limit_per_user_per_minute`), in fixed one-minute windows, counted in the shared
//! `edge` database by one atomic statement per request, so at most the limit of any number
//! of concurrent requests pass, in every layout (one app, or apps per service: they share the
//! label).
//!
//! What is counted: every public request but `/health` (probes) and CORS preflights; calls
//! from the app's own services are not (the gateway's forwarded requests are, under the
//! client address the gateway names). When the counter store fails, reads (`GET`, `HEAD`)
//! go through and writes are refused with 503: a broken store must not take the catalogue
//! down, nor let writes flood unchecked.

use platform::Service;
use platform::variables::names::{RATE_LIMIT_PER_MINUTE, RATE_LIMIT_PER_USER_PER_MINUTE};
use serde_json::json;
use spin_sdk::http::Method;

use crate::{ApiError, RequestContext};

/// Requests per minute when the variable is unset.
const DEFAULT_LIMIT: u64 = 600;

/// The response headers that report a limit.
pub(crate) type LimitHeaders = Vec<(String, String)>;

fn headers(limit: u64, used: u64, reset_in: i64) -> LimitHeaders {
    vec![
        ("x-ratelimit-limit".into(), limit.to_string()),
        (
            "x-ratelimit-remaining".into(),
            limit.saturating_sub(used).to_string(),
        ),
        ("x-ratelimit-reset".into(), reset_in.to_string()),
    ]
}

/// Whether this request is one the limits count. The gateway does not count what it only
/// forwards to a service: the service counts it, under the client address the gateway names.
fn counted(ctx: &RequestContext) -> Result<bool, ApiError> {
    if ctx.path() == "/health" || matches!(ctx.method(), Method::Options) {
        return Ok(false);
    }
    if ctx.spec().service == Service::Gateway && Service::owning(ctx.path()).is_some() {
        return Ok(false);
    }
    Ok(matches!(
        ctx.signed_caller()?,
        None | Some(Service::Gateway)
    ))
}

/// Counts the request; 429 (with `Retry-After`) when the client or the user is over its
/// limit, otherwise the headers reporting the tighter of the two.
pub(crate) fn admit(ctx: &RequestContext) -> Result<LimitHeaders, ApiError> {
    let per_client = ctx.variables().u64_or(RATE_LIMIT_PER_MINUTE, DEFAULT_LIMIT);
    let per_user = ctx
        .variables()
        .u64_or(RATE_LIMIT_PER_USER_PER_MINUTE, DEFAULT_LIMIT);
    if (per_client == 0 && per_user == 0) || !counted(ctx)? {
        return Ok(Vec::new());
    }
    let mut subjects: Vec<(String, u64)> = Vec::new();
    if per_client > 0 {
        subjects.push((format!("addr:{}", ctx.client_bucket()), per_client));
    }
    if per_user > 0
        && ctx.header("authorization").is_some()
        && let Ok(identity) = ctx.identity()
    {
        subjects.push((format!("user:{}", identity.user_id), per_user));
    }
    let now = platform::clock::now_millis();
    let window = edge::window_of(now);
    let reset_in = edge::WINDOW_SECONDS - (now / 1000).rem_euclid(edge::WINDOW_SECONDS);
    let names: Vec<&str> = subjects.iter().map(|(name, _)| name.as_str()).collect();
    let counts = match ctx
        .edge_db()
        .and_then(|db| Ok(edge::count(db, &names, window)?))
    {
        Ok(counts) => counts,
        Err(error) if matches!(ctx.method(), Method::Get | Method::Head) => {
            ctx.logger().warn(
                "rate limit store unavailable; letting a read through",
                json!({ "cause": error.to_string() }),
            );
            return Ok(Vec::new());
        }
        Err(error) => {
            return Err(
                ApiError::service_unavailable("The service is busy; retry shortly")
                    .with_header("retry-after", "1")
                    .with_cause(error),
            );
        }
    };
    let mut reported: Option<(u64, LimitHeaders)> = None;
    for ((_, limit), used) in subjects.iter().zip(counts) {
        let used = u64::try_from(used).unwrap_or(u64::MAX);
        if used > *limit {
            let retry_after = u64::try_from(reset_in).unwrap_or(1);
            let mut error = ApiError::too_many_requests(retry_after);
            for (name, value) in headers(*limit, used, reset_in) {
                error = error.with_header(&name, value);
            }
            return Err(error);
        }
        let remaining = limit.saturating_sub(used);
        if reported
            .as_ref()
            .is_none_or(|(least, _)| remaining < *least)
        {
            reported = Some((remaining, headers(*limit, used, reset_in)));
        }
    }
    Ok(reported.map(|(_, headers)| headers).unwrap_or_default())
}

/// After a response that used the edge database: deletes a batch of counters from windows before the
/// previous one, if the window index shows any (one read otherwise).
pub(crate) fn prune_stale_counters(ctx: &RequestContext) {
    let window = edge::window_of(platform::clock::now_millis());
    let pruned = ctx.edge_db().and_then(|db| {
        let stale = db.ask(&[edge::stale_counters(window)])?;
        if stale.first() == Some(&true) {
            edge::prune_counters(db, window)?;
        }
        Ok(())
    });
    if let Err(error) = pruned {
        ctx.logger().warn(
            "could not prune old rate-limit counters",
            json!({ "cause": error.to_string() }),
        );
    }
}
