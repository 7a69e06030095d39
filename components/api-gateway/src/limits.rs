//! Rate limits per client address and per user: fixed one-minute windows counted in Spin
//! key-value (store `default`).
//!
//! Key-value offers no atomic increment, so two requests racing on one counter can both pass
//! at the boundary: the limit is approximate under bursts, never unbounded. A key-value
//! failure lets the request through (logged): limiting must not take the API down.
//!
//! Counters are keyed by their window (`ratelimit:<window>:addr:<client>`), and key-value has
//! no expiry, so after the first response of each window the gateway deletes the counters of
//! windows before the previous one, at most [`SWEEP_BATCH`] per request: the store holds two
//! windows' clients, not every client ever seen. The previous window is kept for a replica
//! whose clock lags; the sweep runs after the response so no client waits for it. IPv6 clients are counted per
//! /64, the block one subscriber usually holds, so rotating through its addresses does not
//! multiply the limit.

use response_handler::{ApiError, RequestContext};
use serde_json::json;
use spin_sdk::key_value::Store;

const WINDOW_SECONDS: u64 = 60;

fn limit(variable: &str, default: u64) -> u64 {
    response_handler::variable_u64(variable).unwrap_or(default)
}

/// Prefix of every rate-limit key.
const PREFIX: &str = "ratelimit:";
/// The key holding the last window whose older counters were deleted.
const SWEPT_KEY: &str = "ratelimit:swept";

/// The bucket a client is counted in, from `spin-client-addr` (set by the runtime, never by
/// the client): its IPv4 address, or its IPv6 /64.
fn client_bucket(client_addr: Option<&str>) -> String {
    let address = client_addr.unwrap_or("unknown");
    let host = match address.parse::<std::net::SocketAddr>() {
        Ok(socket) => socket.ip(),
        Err(_) => match address.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return address.to_string(),
        },
    };
    match host {
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let block = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(block))
        }
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The counter key of `subject` (`addr:<bucket>` or `user:<id>`) in `window`.
fn counter_key(window: u64, subject: &str) -> String {
    format!("{PREFIX}{window}:{subject}")
}

/// The window a counter key belongs to.
fn window_of(key: &str) -> Option<u64> {
    key.strip_prefix(PREFIX)?.split_once(':')?.0.parse().ok()
}

/// Counts one request against `key` and returns the count.
fn count(store: &Store, key: &str) -> Result<u64, spin_sdk::key_value::Error> {
    let current = store
        .get(key)?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(0);
    store.set(key, (current + 1).to_string().as_bytes())?;
    Ok(current + 1)
}

/// Counters deleted by one request's sweep, so that one request never pays for thousands of
/// key-value round trips; the next request continues a sweep cut short.
const SWEEP_BATCH: usize = 500;

/// Whether `key` is a counter the sweep of `window` deletes: one from a window before the
/// previous one, or one in the key format of an earlier release.
fn is_stale(key: &str, window: u64) -> bool {
    key != SWEPT_KEY
        && key.starts_with(PREFIX)
        && window_of(key).is_none_or(|of| of.saturating_add(1) < window)
}

/// Once per window: deletes up to [`SWEEP_BATCH`] stale counters. Racing requests may both
/// sweep; deleting twice is harmless.
fn sweep_earlier_windows(store: &Store, window: u64) -> Result<usize, spin_sdk::key_value::Error> {
    let swept = store
        .get(SWEPT_KEY)?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<u64>().ok());
    if swept.is_some_and(|swept| swept >= window) {
        return Ok(0);
    }
    // Marked first, so that the requests arriving meanwhile do not all start a sweep.
    store.set(SWEPT_KEY, window.to_string().as_bytes())?;
    let mut deleted = 0;
    for key in store.get_keys()? {
        if !is_stale(&key, window) {
            continue;
        }
        if deleted == SWEEP_BATCH {
            store.set(SWEPT_KEY, (window - 1).to_string().as_bytes())?;
            break;
        }
        store.delete(&key)?;
        deleted += 1;
    }
    Ok(deleted)
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
    let logger = ctx.logger.clone();
    ctx.after_response(async move {
        let swept = Store::open_default().and_then(|store| sweep_earlier_windows(&store, window));
        if let Err(error) = swept {
            logger.warn(
                "rate limit sweep failed",
                json!({ "cause": format!("{error:?}") }),
            );
        }
    });
    let mut checks = Vec::new();
    if per_client > 0 {
        let bucket = client_bucket(ctx.header("spin-client-addr"));
        checks.push((counter_key(window, &format!("addr:{bucket}")), per_client));
    }
    if per_user > 0
        && ctx.header("authorization").is_some()
        && let Ok(identity) = ctx.identity()
    {
        checks.push((
            counter_key(window, &format!("user:{}", identity.user_id)),
            per_user,
        ));
    }
    let mut reported = Vec::new();
    for (key, limit) in checks {
        let used = match count(&store, &key) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_clients_are_counted_by_address_and_ipv6_clients_by_their_64() {
        assert_eq!(client_bucket(Some("203.0.113.9:51234")), "203.0.113.9");
        assert_eq!(
            client_bucket(Some("[2001:db8:1:2:aaaa::1]:443")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_bucket(Some("[2001:db8:1:2:ffff:ffff:ffff:ffff]:80")),
            client_bucket(Some("[2001:db8:1:2::7]:80")),
            "one /64, one bucket"
        );
        assert_ne!(
            client_bucket(Some("[2001:db8:1:3::1]:80")),
            client_bucket(Some("[2001:db8:1:2::1]:80"))
        );
        assert_eq!(
            client_bucket(Some("[::ffff:198.51.100.7]:80")),
            "198.51.100.7"
        );
        assert_eq!(client_bucket(None), "unknown");
    }

    #[test]
    fn counter_keys_carry_their_window() {
        let key = counter_key(29_000_000, "addr:203.0.113.9");
        assert_eq!(key, "ratelimit:29000000:addr:203.0.113.9");
        assert_eq!(window_of(&key), Some(29_000_000));
        assert_eq!(
            window_of("ratelimit:addr:203.0.113.9"),
            None,
            "the old format"
        );
        assert_eq!(window_of(SWEPT_KEY), None);
    }

    #[test]
    fn the_sweep_keeps_this_window_and_the_previous_one() {
        let window = 29_000_000;
        assert!(!is_stale(&counter_key(window, "addr:a"), window));
        assert!(
            !is_stale(&counter_key(window - 1, "addr:a"), window),
            "a lagging replica still counts in it"
        );
        assert!(is_stale(&counter_key(window - 2, "addr:a"), window));
        assert!(is_stale("ratelimit:addr:203.0.113.9", window));
        assert!(!is_stale(SWEPT_KEY, window));
        assert!(!is_stale("sessions:abc", window), "not a rate-limit key");
    }
}
