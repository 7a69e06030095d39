//! The route table: one place per component that lists every method and path.
//!
//! (`spin_sdk::http::Router` answers unmatched routes with plain-text bodies and no `Allow`
//! header; the contract needs envelope 404s and 405s with `Allow`, so the table is ours.)

use std::collections::HashMap;
use std::rc::Rc;

use futures::future::LocalBoxFuture;

use crate::percent::{Part, decode};
use crate::{ApiResult, RequestContext};

/// Path parameters captured by `:name` segments and a trailing `*name`.
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

type Handler = Box<dyn Fn(Rc<RequestContext>) -> LocalBoxFuture<'static, ApiResult>>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

struct Entry {
    method: &'static str,
    pattern: &'static str,
    segments: Vec<Segment>,
    handler: Handler,
}

/// What a request resolves to.
pub(crate) enum Resolved<'a> {
    Found(&'a Handler, Params),
    MethodNotAllowed(Vec<String>),
    NotFound,
}

/// A component's routes, and what answers a path none of them has (by default, a 404).
#[derive(Default)]
pub struct Routes {
    entries: Vec<Entry>,
    fallback: Option<Handler>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.table()).finish()
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|segment| {
            if let Some(name) = segment.strip_prefix(':') {
                Segment::Param(name.to_string())
            } else if let Some(name) = segment.strip_prefix('*') {
                Segment::Rest(name.to_string())
            } else {
                Segment::Literal(segment.to_string())
            }
        })
        .collect()
}

fn match_segments(segments: &[Segment], path: &str) -> Option<Params> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut params = HashMap::new();
    for (index, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Rest(name) => {
                params.insert(
                    name.clone(),
                    parts.get(index..).unwrap_or_default().join("/"),
                );
                return Some(Params(params));
            }
            Segment::Literal(literal) => {
                if parts.get(index) != Some(&literal.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = parts.get(index)?;
                params.insert(name.clone(), decode(value, Part::PathSegment));
            }
        }
    }
    (parts.len() == segments.len()).then_some(Params(params))
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route; `pattern` segments are literals, `:param`, or a final `*rest`.
    pub fn route<F, Fut>(mut self, method: &'static str, pattern: &'static str, handler: F) -> Self
    where
        F: Fn(Rc<RequestContext>) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.entries.push(Entry {
            method,
            pattern,
            segments: parse_pattern(pattern),
            handler: Box::new(move |ctx| Box::pin(handler(ctx))),
        });
        self
    }

    pub fn get<F, Fut>(self, pattern: &'static str, handler: F) -> Self
    where
        F: Fn(Rc<RequestContext>) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.route("GET", pattern, handler)
    }

    pub fn post<F, Fut>(self, pattern: &'static str, handler: F) -> Self
    where
        F: Fn(Rc<RequestContext>) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.route("POST", pattern, handler)
    }

    pub fn patch<F, Fut>(self, pattern: &'static str, handler: F) -> Self
    where
        F: Fn(Rc<RequestContext>) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.route("PATCH", pattern, handler)
    }

    /// Answers every request whose path no route has (the gateway's proxy), whatever its
    /// method.
    pub fn fallback<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Rc<RequestContext>) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        self.fallback = Some(Box::new(move |ctx| Box::pin(handler(ctx))));
        self
    }

    /// `(method, pattern)` of every route, in table order.
    pub fn table(&self) -> Vec<(&'static str, &'static str)> {
        self.entries.iter().map(|e| (e.method, e.pattern)).collect()
    }

    pub(crate) fn resolve(&self, method: &str, path: &str) -> Resolved<'_> {
        let mut allowed = Vec::new();
        // Literal-only routes win over ones with parameters at the same depth.
        let mut best: Option<(usize, &Handler, Params)> = None;
        for entry in &self.entries {
            let Some(params) = match_segments(&entry.segments, path) else {
                continue;
            };
            if entry.method != method && !(method == "HEAD" && entry.method == "GET") {
                if !allowed.contains(&entry.method.to_string()) {
                    allowed.push(entry.method.to_string());
                }
                continue;
            }
            let literals = entry
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            if best.as_ref().is_none_or(|(score, ..)| literals > *score) {
                best = Some((literals, &entry.handler, params));
            }
        }
        match (best, &self.fallback) {
            (Some((_, handler, params)), _) => Resolved::Found(handler, params),
            (None, _) if !allowed.is_empty() => Resolved::MethodNotAllowed(allowed),
            (None, Some(fallback)) => Resolved::Found(fallback, Params::default()),
            (None, None) => Resolved::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    async fn ok(_: Rc<RequestContext>) -> ApiResult {
        Ok(Reply::ok(&1, "ok"))
    }

    fn table() -> Routes {
        Routes::new()
            .get("/products", ok)
            .post("/products", ok)
            .get("/products/:id", ok)
            .patch("/products/:id/stock", ok)
            .get("/products/search", ok)
            .route("GET", "/files/*rest", ok)
    }

    fn params_of(routes: &Routes, method: &str, path: &str) -> Option<Params> {
        match routes.resolve(method, path) {
            Resolved::Found(_, params) => Some(params),
            _ => None,
        }
    }

    #[test]
    fn captures_parameters_and_decodes_them() {
        let params = params_of(&table(), "GET", "/products/a%20b").expect("found");
        assert_eq!(params.get("id"), Some("a b"));
        let params = params_of(&table(), "GET", "/files/a/b/c").expect("found");
        assert_eq!(params.get("rest"), Some("a/b/c"));
    }

    #[test]
    fn literal_route_beats_parameter_route() {
        let params = params_of(&table(), "GET", "/products/search").expect("found");
        assert_eq!(params.get("id"), None);
    }

    #[test]
    fn wrong_method_lists_allowed_methods() {
        match table().resolve("DELETE", "/products") {
            Resolved::MethodNotAllowed(allowed) => assert_eq!(allowed, vec!["GET", "POST"]),
            _ => panic!("expected 405"),
        }
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in ["/nope", "/products/1/stock/extra", "/"] {
            assert!(
                matches!(table().resolve("GET", path), Resolved::NotFound),
                "{path}"
            );
        }
    }

    #[test]
    fn trailing_slashes_are_tolerated_and_head_uses_get() {
        assert!(params_of(&table(), "GET", "/products/").is_some());
        assert!(params_of(&table(), "HEAD", "/products").is_some());
    }

    #[test]
    fn a_fallback_answers_unknown_paths_but_not_wrong_methods() {
        let routes = table().fallback(ok);
        assert!(matches!(
            routes.resolve("GET", "/nope"),
            Resolved::Found(..)
        ));
        assert!(matches!(
            routes.resolve("DELETE", "/products"),
            Resolved::MethodNotAllowed(_)
        ));
    }

    #[test]
    fn options_on_a_routed_path_resolves_to_its_methods_for_preflights() {
        let allowed = |path| match table().resolve("OPTIONS", path) {
            Resolved::MethodNotAllowed(methods) => methods,
            _ => Vec::new(),
        };
        assert_eq!(allowed("/products/7"), ["GET"]);
        assert_eq!(allowed("/products"), ["GET", "POST"]);
    }

    #[test]
    fn table_lists_every_route_in_order() {
        assert_eq!(table().table()[3], ("PATCH", "/products/:id/stock"));
        assert_eq!(table().table().len(), 6);
    }
}
