//! The wrapper around every request: read, route, render, log, send, then deferred work.

use std::rc::Rc;

use envelope::{Envelope, ErrorCode, ErrorInfo, Meta};
use futures::StreamExt;
use serde_json::{Value, json};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

use crate::context::variable;
use crate::log::LogLevel;
use crate::request_id::{REQUEST_ID_HEADER, request_id_from};
use crate::routes::Resolved;
use crate::{ApiError, ApiResult, Environment, Query, RequestContext, Routes, ServiceConfig};

/// Largest accepted body unless the `max_body_bytes` variable says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A response ready to send.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Serves one request with `routes`, answering through `out`.
pub async fn serve(
    config: &'static ServiceConfig,
    routes: &Routes,
    incoming: IncomingRequest,
    out: ResponseOutparam,
) {
    let environment = Environment::parse(variable("environment").as_deref());
    let level = LogLevel::parse(&variable("log_level").unwrap_or_default());
    let headers = incoming.headers().entries();
    let client_request_id = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(REQUEST_ID_HEADER))
        .and_then(|(_, value)| std::str::from_utf8(value).ok());
    let mut ctx = RequestContext::new(
        config,
        request_id_from(client_request_id),
        environment,
        level,
    );
    ctx.headers = headers;

    let method = incoming.method();
    let path_with_query = incoming
        .path_with_query()
        .unwrap_or_else(|| "/".to_string());
    let (uri_path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (path_with_query.clone(), None),
    };
    // Below a component's own route (when it is deployed on its own under a prefix) Spin
    // reports the rest of the path in `spin-path-info`; routes are written against that.
    let path = ctx
        .header("spin-path-info")
        .filter(|info| info.starts_with('/'))
        .map(str::to_string)
        .unwrap_or(uri_path);
    let max_body = crate::variable_u64("max_body_bytes")
        .and_then(|bytes| usize::try_from(bytes).ok())
        .unwrap_or(DEFAULT_MAX_BODY_BYTES);

    let method_name = method.to_string();
    ctx.method = method;
    ctx.query = query.as_deref().map(Query::parse).unwrap_or_default();
    ctx.raw_query = query;
    let resolved = routes.resolve(&method_name, &path);
    if let Resolved::Found(_, params) = &resolved {
        ctx.params = params.clone();
    }
    let prepared = prepare(&mut ctx, incoming, max_body).await;
    let ctx = Rc::new(ctx);
    let before = match config.before {
        Some(hook) => hook(&ctx),
        None => Ok(Vec::new()),
    };
    let (prepared, hook_headers) = match before {
        Ok(headers) => (prepared, headers),
        Err(error) => (Err(error), Vec::new()),
    };
    let outcome: ApiResult = match (prepared, resolved) {
        (Err(error), _) => Err(error),
        (Ok(()), Resolved::Found(handler, _)) => handler(ctx.clone()).await,
        (Ok(()), Resolved::MethodNotAllowed(allowed)) => {
            Err(ApiError::method_not_allowed(&allowed))
        }
        (Ok(()), Resolved::NotFound) => Err(ApiError::not_found("Route not found")
            .with_details(json!({ "method": method_name, "path": path }))),
    };
    let mut rendered = render(&ctx, &outcome);
    rendered.headers.extend(hook_headers);
    if let Some(decorate) = config.decorate {
        decorate(&ctx, &mut rendered.headers);
    }
    log_request(&ctx, &method_name, &path, &rendered, &outcome);
    send(out, rendered).await;
    for work in ctx.take_deferred() {
        work.await;
    }
}

/// Reads the body within the limit into the context and, for services, parses it as JSON.
async fn prepare(
    ctx: &mut RequestContext,
    incoming: IncomingRequest,
    limit: usize,
) -> Result<(), ApiError> {
    let body = read_body(ctx, incoming, limit).await?;
    ctx.body = body;
    let body = &ctx.body;
    if body.is_empty() {
        return Ok(());
    }
    if !is_json_content_type(ctx.header("content-type").unwrap_or_default()) {
        return Err(ApiError::unsupported_media_type());
    }
    if ctx.config.parse_json_bodies {
        let json = serde_json::from_slice(body).map_err(|error| {
            ApiError::bad_request("Malformed JSON body")
                .with_details(json!({ "reason": error.to_string() }))
        })?;
        ctx.json = Some(json);
    }
    Ok(())
}

fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body(
    ctx: &RequestContext,
    incoming: IncomingRequest,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    if let Some(length) = ctx
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        && length > limit as u64
    {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut stream = incoming.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::bad_request("Could not read the request body")
                .with_cause(format!("{error:?}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The envelope (or relayed body) and headers for an outcome.
pub(crate) fn render(ctx: &RequestContext, outcome: &ApiResult) -> Rendered {
    let development = ctx.environment == Environment::Development;
    let execution_time = ctx.elapsed_millis();
    let mut meta = Meta {
        request_id: ctx.request_id.clone(),
        timestamp: envelope::rfc3339_from_millis(envelope::now_millis()),
        execution_time,
        service: ctx.config.name.to_string(),
        environment: development.then(|| ctx.environment.as_str().to_string()),
        version: development.then(|| ctx.config.version.to_string()),
        pagination: None,
    };
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("x-request-id".to_string(), ctx.request_id.clone()),
        ("x-response-time".to_string(), format!("{execution_time}ms")),
    ];
    headers.extend(
        ctx.config
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    if ctx.config.identify {
        headers.push(("x-service".to_string(), ctx.config.name.to_string()));
        headers.push(("x-version".to_string(), ctx.config.version.to_string()));
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

fn log_request(
    ctx: &RequestContext,
    method: &str,
    path: &str,
    rendered: &Rendered,
    outcome: &ApiResult,
) {
    let mut fields = json!({
        "requestId": ctx.request_id,
        "method": method,
        "path": path,
        "status": rendered.status,
        "durationMs": ctx.elapsed_millis(),
    });
    let level = match outcome {
        Err(error) => {
            fields["error"] = json!(error.code.as_contract_str());
            if let Some(cause) = &error.cause {
                fields["cause"] = json!(cause);
            }
            if error.status() >= 500 {
                LogLevel::Error
            } else {
                LogLevel::Info
            }
        }
        Ok(_) => LogLevel::Info,
    };
    ctx.logger.log(level, "request", fields);
}

async fn send(out: ResponseOutparam, rendered: Rendered) {
    let headers: Vec<(String, Vec<u8>)> = rendered
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(rendered.status);
    if let Err(error) = out.set_with_body(response, rendered.body).await {
        eprintln!("could not send the response: {error:?}");
    }
}

#[cfg(test)]
mod tests;
