//! An outcome rendered into the envelope and the headers every response carries.

use envelope::{Envelope, ErrorCode, ErrorInfo, Meta};
use serde_json::Value;

use crate::{ApiError, ApiResult, Environment, GATEWAY_HEADER, RequestContext};

/// A response ready to send.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The envelope (or relayed body) and headers for an outcome.
pub(crate) fn render(ctx: &RequestContext, outcome: &ApiResult) -> Rendered {
    let development = ctx.environment() == Environment::Development;
    let spec = ctx.spec();
    let execution_time = ctx.elapsed_millis();
    let mut meta = Meta {
        request_id: ctx.request_id().to_string(),
        timestamp: platform::clock::now_rfc3339(),
        execution_time,
        service: spec.name().to_string(),
        environment: development.then(|| ctx.environment().as_str().to_string()),
        version: development.then(|| spec.version.to_string()),
        pagination: None,
    };
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("x-request-id".to_string(), ctx.request_id().to_string()),
        ("x-response-time".to_string(), format!("{execution_time}ms")),
        (GATEWAY_HEADER.0.to_string(), GATEWAY_HEADER.1.to_string()),
    ];
    if spec.identifies_itself() {
        headers.push(("x-service".to_string(), spec.name().to_string()));
        headers.push(("x-version".to_string(), spec.version.to_string()));
    }
    let (status, body) = match outcome {
        Ok(reply) => {
            headers.extend(reply.headers.iter().cloned());
            match &reply.raw_body {
                Some(body) => (reply.status, body.clone()),
                None => {
                    meta.pagination = reply.pagination;
                    let envelope = Envelope {
                        success: true,
                        message: reply.message.clone(),
                        data: reply.data.clone(),
                        error: None,
                        meta,
                    };
                    (reply.status, envelope::to_json(&envelope).into_bytes())
                }
            }
        }
        Err(error) => {
            headers.extend(error.headers.iter().cloned());
            let envelope = Envelope {
                success: false,
                message: public_message(error, development),
                data: None,
                error: Some(ErrorInfo {
                    code: error.code,
                    type_: error.code.type_name().to_string(),
                    message: public_message(error, development),
                    details: public_details(error, development).map(|d| d.to_string()),
                }),
                meta,
            };
            (error.status(), envelope::to_json(&envelope).into_bytes())
        }
    };
    if status == 204 {
        headers.retain(|(name, _)| name != "content-type");
    }
    Rendered {
        status,
        headers,
        body,
    }
}

fn public_message(error: &ApiError, development: bool) -> String {
    if error.code == ErrorCode::InternalError && !development {
        "An internal error occurred".to_string()
    } else {
        error.message.clone()
    }
}

/// Client-facing details: a 5xx cause is internal and shown only in development.
fn public_details(error: &ApiError, development: bool) -> Option<Value> {
    match (&error.cause, development && error.status() >= 500) {
        (Some(cause), true) => {
            let mut details = match error.details.clone() {
                Some(Value::Object(map)) => map,
                Some(other) => [("value".to_string(), other)].into_iter().collect(),
                None => serde_json::Map::new(),
            };
            details.insert("cause".into(), Value::String(cause.clone()));
            Some(Value::Object(details))
        }
        _ => error.details.clone(),
    }
}

#[cfg(test)]
mod tests;
