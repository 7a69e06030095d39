//! Request handlers.

use std::rc::Rc;

use response_handler::{ApiError, ApiResult, Params, Reply, RequestContext};
use serde_json::json;
use spin_sdk::http::Request;

use crate::schema;

/// `GET /health`: healthy when the service's database answers.
pub async fn health(ctx: Rc<RequestContext>, _request: Request, _params: Params) -> ApiResult {
    match schema::open().and_then(|db| db.ping()) {
        Ok(()) => Ok(Reply::ok(
            &json!({ "service": ctx.config.name, "status": "healthy", "database": "connected" }),
            "Service is healthy",
        )),
        Err(error) => Err(ApiError::service_unavailable("Service is unhealthy")
            .with_details(json!({ "service": ctx.config.name, "status": "unhealthy", "database": "disconnected" }))
            .with_cause(error)),
    }
}
