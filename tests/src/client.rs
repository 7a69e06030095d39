//! Requests to the app under test, and their answers read whole.

use std::collections::BTreeMap;
use std::future::Future;

use reqwest::Method;
use serde_json::Value;

use crate::TestApp;

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a failure envelope with this status and `error.code`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["error"]["code"], code, "{}", self.text);
    }

    /// Asserts a validation failure that names exactly `fields`, in order, as missing.
    #[track_caller]
    pub fn assert_missing_fields(&self, fields: &[&str]) {
        self.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(
            self.details()["missingFields"],
            serde_json::json!(fields),
            "{}",
            self.text
        );
    }

    /// The failure envelope's `error.details` (`null` when there are none).
    pub fn details(&self) -> &Value {
        &self.body["error"]["details"]
    }

    /// `field` of each item of the list in `data`, in order (the answer must hold a list).
    #[track_caller]
    pub fn each(&self, field: &str) -> Vec<&str> {
        self.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no list in data: {}", self.text))
            .iter()
            .filter_map(|item| item[field].as_str())
            .collect()
    }

    /// The `Retry-After` header in seconds (it must be there).
    #[track_caller]
    pub fn retry_after(&self) -> u64 {
        self.header("retry-after")
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After in seconds: {:?}", self.headers))
    }
}

/// How many answers came with each status.
pub fn count_by_status(answers: &[Answer]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for answer in answers {
        *counts.entry(answer.status).or_default() += 1;
    }
    counts
}

impl TestApp {
    /// Sends a request and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// A request with a bearer token.
    pub fn authed(&self, request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        request.bearer_auth(token)
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// `method` on `path` with exactly these `headers` (and no token, no body). The request is
    /// made at once, so the answer borrows nothing but the app.
    pub fn request<'app>(
        &'app self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> impl Future<Output = Answer> + use<'app> {
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request)
    }

    /// POST `body` as it is to `path`, labelled `content_type`, with no token.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        self.send(
            self.client
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// GET `path` with `token` as the bearer.
    pub async fn get_as(&self, path: &str, token: &str) -> Answer {
        self.send(self.authed(self.client.get(self.url(path)), token))
            .await
    }

    /// POST nothing to `path` with `token` as the bearer.
    pub async fn post_as(&self, path: &str, token: &str) -> Answer {
        self.send(self.authed(self.client.post(self.url(path)), token))
            .await
    }

    /// POST `body` as JSON to `path` with `token` as the bearer.
    pub async fn post_json_as(&self, path: &str, body: &Value, token: &str) -> Answer {
        self.send_json_as(Method::POST, path, body, token).await
    }

    /// PATCH `body` as JSON to `path` with `token` as the bearer.
    pub async fn patch_json_as(&self, path: &str, body: &Value, token: &str) -> Answer {
        self.send_json_as(Method::PATCH, path, body, token).await
    }

    /// `method` with `body` as JSON to `path` and `token` as the bearer.
    async fn send_json_as(&self, method: Method, path: &str, body: &Value, token: &str) -> Answer {
        let request = self.client.request(method, self.url(path));
        self.send(self.authed(request, token).json(body)).await
    }
}
