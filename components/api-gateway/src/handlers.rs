//! The OpenAPI document.

use std::rc::Rc;

use http_service::{ApiResult, Reply, RequestContext};

/// The OpenAPI document (from `openapi.yaml`, converted at build time).
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// `GET /api/openapi.json`: the document itself, not enveloped, so tools can read it.
pub async fn openapi(_ctx: Rc<RequestContext>) -> ApiResult {
    Ok(Reply::passthrough(200, OPENAPI_JSON.as_bytes().to_vec()))
}
