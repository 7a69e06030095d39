//! Dead letters: events a producer gave up delivering, listed and sent again by an admin
//! through the gateway, which asks every producer over these private endpoints (service
//! token from `api-gateway` only).

use serde::{Deserialize, Serialize};

/// `GET /dead-letters?first=N`: a producer's newest `N` dead letters and how many it has.
pub const LIST_PATH: &str = "/dead-letters";

/// `POST /dead-letters/{eventId}/retry`: back to pending, delivered on the producer's next
/// pass. 404 when the producer has no such dead letter.
pub fn retry_path(event_id: &str) -> String {
    format!("/dead-letters/{event_id}/retry")
}

/// The most one list call returns: the gateway pages through at most this many of each
/// producer's newest.
pub const MAX_FIRST: u32 = 10_000;

/// One dead-lettered event, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Names the producer and the event (`<component id>.<event id>`), so a retry finds it.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub source: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// When the event occurred.
    pub created_at: String,
}

/// A producer's answer to [`LIST_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterList {
    pub items: Vec<DeadLetter>,
    pub total: u64,
}

/// The public id of `event_id` dead-lettered at `producer`.
pub fn public_id(producer: &str, event_id: &str) -> String {
    format!("{producer}.{event_id}")
}

/// The producer and event id a public id names.
pub fn parse_public_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('.')
        .filter(|(producer, event)| !producer.is_empty() && !event.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_id_names_its_producer_and_event() {
        let id = public_id("order-service", "evt_1");
        assert_eq!(id, "order-service.evt_1");
        assert_eq!(parse_public_id(&id), Some(("order-service", "evt_1")));
        assert_eq!(parse_public_id("no-dot"), None);
        assert_eq!(parse_public_id(".evt"), None);
        assert_eq!(retry_path("evt_1"), "/dead-letters/evt_1/retry");
    }
}
