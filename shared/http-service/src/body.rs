//! Reading a request body within `max_body_bytes`.
//!
//! A body over the limit is a 413, but only after the rest of it has been read and thrown
//! away (up to [`DRAIN_LIMIT`]): a server that answers while the client is still sending and
//! then closes makes the client's kernel see unread data and reset the connection, and the
//! client gets "connection closed" instead of the 413 (seen through the gateway between apps).

use futures::StreamExt;
use spin_sdk::http::IncomingRequest;

use crate::ApiError;

/// Largest accepted body unless the `max_body_bytes` variable says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// How much of a refused body is read and discarded before answering; past it, the client is
/// left to its reset.
const DRAIN_LIMIT: usize = 16 << 20;

/// The body, or 413 once the part past `limit` has been drained.
pub(crate) async fn read(
    incoming: IncomingRequest,
    declared_length: Option<u64>,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut stream = incoming.into_body_stream();
    let too_large = declared_length.is_some_and(|length| length > limit as u64);
    let mut body = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::bad_request("Could not read the request body")
                .with_cause(format!("{error:?}"))
        })?;
        seen = seen.saturating_add(chunk.len());
        if too_large || seen > limit {
            if seen > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if too_large || seen > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(body)
}

/// Whether a content type is JSON (`application/json` or `application/*+json`).
pub(crate) fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/problem+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }
}
