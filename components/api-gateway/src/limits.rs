//! Rate limits per client address and per user: fixed one-minute windows counted in Spin
//! key-value (store `default`).
//!
//! Key-value offers no atomic increment, so two requests racing on one counter can both pass
//! at the boundary: the limit is approximate under bursts, never unbounded. A key-value
//! failure lets the request through (logged): limiting must not take the API down.

use response_handler::{ApiError, RequestContext};
use serde_json::json;
use spin_sdk::key_value::Store;

const WINDOW_SECONDS: u64 = 60;

fn limit(variable: &str, default: u64) -> u64 {
    spin_sdk::variables::get(variable)
        .ok()
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(default)
}

/// The client's address without the port (`spin-client-addr` is set by the runtime).
fn client_address(ctx: &RequestContext) -> String {
    let address = ctx.header("spin-client-addr").unwrap_or("unknown");
    match address.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            host.trim_matches(['[', ']']).to_string()
        }
        _ => address.to_string(),
    }
}

/// Counts one request against `key` in the current window and returns the count.
fn count(store: &Store, key: &str, window: u64) -> Result<u64, spin_sdk::key_value::Error> {
    let current = store
        .get(key)?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (stored_window, stored_count) = text.split_once(' ')?;
            Some((
                stored_window.parse::<u64>().ok()?,
                stored_count.parse::<u64>().ok()?,
            ))
        });
    let next = match current {
        Some((stored_window, stored_count)) if stored_window == window => stored_count + 1,
        _ => 1,
    };
    store.set(key, format!("{window} {next}").as_bytes())?;
    Ok(next)
}

fn headers(limit: u64, used: u64, reset_in: u64) -> Vec<(String, String)> {
    vec![
        ("x-ratelimit-limit".into(), limit.to_string()),
        (
            "x-ratelimit-remaining".into(),
            limit.saturating_sub(used).to_string(),
        ),
        ("x-ratelimit-reset".into(), reset_in.to_string()),
    ]
}

/// The gateway's `before` hook: 429 when the client or the user is over its limit.
pub fn enforce(ctx: &RequestContext) -> Result<Vec<(String, String)>, ApiError> {
    let per_client = limit("rate_limit_per_minute", 600);
    let per_user = limit("rate_limit_per_user_per_minute", 600);
    if per_client == 0 && per_user == 0 {
        return Ok(Vec::new());
    }
    let now = u64::try_from(envelope::now_millis() / 1000).unwrap_or(0);
    let window = now / WINDOW_SECONDS;
    let reset_in = WINDOW_SECONDS - now % WINDOW_SECONDS;
    let store = match Store::open_default() {
        Ok(store) => store,
        Err(error) => {
            ctx.logger.warn(
                "rate limit store unavailable",
                json!({ "cause": format!("{error:?}") }),
            );
            return Ok(Vec::new());
        }
    };
    let mut checks = Vec::new();
    if per_client > 0 {
        checks.push((
            format!("ratelimit:addr:{}", client_address(ctx)),
            per_client,
        ));
    }
    if per_user > 0
        && ctx.header("authorization").is_some()
        && let Ok(identity) = ctx.identity()
    {
        checks.push((format!("ratelimit:user:{}", identity.user_id), per_user));
    }
    let mut reported = Vec::new();
    for (key, limit) in checks {
        let used = match count(&store, &key, window) {
            Ok(used) => used,
            Err(error) => {
                ctx.logger.warn(
                    "rate limit count failed",
                    json!({ "cause": format!("{error:?}") }),
                );
                continue;
            }
        };
        if used > limit {
            let mut error = ApiError::too_many_requests(reset_in);
            for (name, value) in headers(limit, used, reset_in) {
                error = error.with_header(&name, value);
            }
            return Err(error);
        }
        // Report the tighter of the two limits.
        if reported.is_empty() || limit.saturating_sub(used) < remaining(&reported) {
            reported = headers(limit, used, reset_in);
        }
    }
    Ok(reported)
}

fn remaining(headers: &[(String, String)]) -> u64 {
    headers
        .iter()
        .find(|(name, _)| name == "x-ratelimit-remaining")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(u64::MAX)
}
