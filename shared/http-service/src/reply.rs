//! [`Reply`]: a successful outcome, rendered into the envelope by the handler wrapper.

use envelope::Pagination;
use serde::Serialize;
use store::Page;

/// What a handler answers on success.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub message: String,
    /// The payload as JSON text (`None` renders as `"data": null`).
    pub data: Option<String>,
    pub pagination: Option<Pagination>,
    pub headers: Vec<(String, String)>,
    /// A body passed through untouched (the gateway relaying an upstream envelope).
    pub raw_body: Option<Vec<u8>>,
}

fn to_json_text(data: &impl Serialize) -> String {
    // Our payloads are plain structs and JSON values: serialising them cannot fail.
    serde_json::to_string(data).unwrap_or_else(|_| "null".to_string())
}

impl Reply {
    fn with_status(status: u16, data: Option<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            data,
            pagination: None,
            headers: Vec::new(),
            raw_body: None,
        }
    }

    /// 200 with `data`.
    pub fn ok(data: &impl Serialize, message: impl Into<String>) -> Self {
        Self::with_status(200, Some(to_json_text(data)), message)
    }

    /// 201 with the created resource.
    pub fn created(data: &impl Serialize, message: impl Into<String>) -> Self {
        Self::with_status(201, Some(to_json_text(data)), message)
    }

    /// 202: accepted for later processing.
    pub fn accepted(data: &impl Serialize, message: impl Into<String>) -> Self {
        Self::with_status(202, Some(to_json_text(data)), message)
    }

    /// 204: no body at all (HTTP forbids one), headers only.
    pub fn no_content() -> Self {
        let mut reply = Self::with_status(204, None, "");
        reply.raw_body = Some(Vec::new());
        reply
    }

    /// 200 with `page` of a list of `total` items and `meta.pagination`.
    pub fn page<T: Serialize>(
        items: &[T],
        page: Page,
        total: u64,
        message: impl Into<String>,
    ) -> Self {
        let mut reply = Self::with_status(200, Some(to_json_text(&items)), message);
        reply.pagination = Some(pagination(page, total));
        reply
    }

    /// A status with an already-rendered body (for passing an upstream envelope through).
    pub fn passthrough(status: u16, body: Vec<u8>) -> Self {
        let mut reply = Self::with_status(status, None, "");
        reply.raw_body = Some(body);
        reply
    }

    /// Same reply with an explicit status (e.g. replaying a stored 201).
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// `GET /health` of a service whose health is its database answering `check`; what `check`
/// returns (an object, else nothing) is added to the healthy answer. A failure is a 503 whose
/// cause is logged, not sent.
pub fn health_reply(
    service: &str,
    check: Result<serde_json::Value, impl std::fmt::Display>,
) -> crate::ApiResult {
    match check {
        Ok(extra) => {
            let mut data = serde_json::json!({
                "service": service, "status": "healthy", "database": "connected"
            });
            if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
                data.extend(extra);
            }
            Ok(Reply::ok(&data, "Service is healthy"))
        }
        Err(error) => Err(crate::ApiError::service_unavailable("Service is unhealthy")
            .with_details(serde_json::json!({
                "service": service, "status": "unhealthy", "database": "disconnected"
            }))
            .with_cause(error)),
    }
}

/// Pagination meta for `page` of a list of `total` items.
pub fn pagination(page: Page, total: u64) -> Pagination {
    let total_pages = total.div_ceil(u64::from(page.size.max(1)));
    Pagination {
        page: page.number,
        limit: page.size,
        total,
        total_pages,
        has_next: u64::from(page.number) < total_pages,
        has_prev: page.number > 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(number: u32, size: u32) -> Page {
        Page { number, size }
    }

    #[test]
    fn pagination_edges() {
        let p = pagination(page(1, 20), 42);
        assert_eq!((p.total_pages, p.has_next, p.has_prev), (3, true, false));
        let p = pagination(page(3, 20), 42);
        assert_eq!((p.has_next, p.has_prev), (false, true));
        let p = pagination(page(1, 20), 0);
        assert_eq!((p.total_pages, p.has_next, p.has_prev), (0, false, false));
        let p = pagination(page(9, 20), 42);
        assert_eq!((p.has_next, p.has_prev), (false, true));
        let p = pagination(page(1, 10), 10);
        assert_eq!((p.total_pages, p.has_next), (1, false));
    }

    #[test]
    fn helpers_set_their_statuses() {
        assert_eq!(Reply::ok(&1, "m").status, 200);
        assert_eq!(Reply::created(&1, "m").status, 201);
        assert_eq!(Reply::accepted(&1, "m").status, 202);
        assert_eq!(Reply::no_content().status, 204);
        assert_eq!(Reply::page(&[1, 2], page(1, 2), 2, "m").status, 200);
        assert_eq!(
            Reply::ok(&serde_json::json!({"a": 1}), "m").data.as_deref(),
            Some(r#"{"a":1}"#)
        );
    }
}
