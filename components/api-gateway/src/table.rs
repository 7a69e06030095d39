//! The gateway's routing table: every public route, the service behind it, the path it has
//! there, and who may call it (the contract's "Who" column). One place; the OpenAPI test
//! checks `openapi.yaml` against it.

use response_handler::percent::encode_segment;

use crate::upstreams::{NOTIFICATION, ORDER, PRODUCT, USER, Upstream};

/// Who may call a route. Ownership ("owner or admin") is checked by the service, which
/// knows the owner; the gateway requires a valid token for those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    User,
    Admin,
}

/// One public route.
#[derive(Debug, Clone, Copy)]
pub struct GatewayRoute {
    pub method: &'static str,
    /// The public path, with `:param` segments.
    pub public: &'static str,
    pub upstream: Upstream,
    /// The path at the service, with the same `:param` segments.
    pub upstream_path: &'static str,
    pub access: Access,
}

const fn route(
    method: &'static str,
    public: &'static str,
    upstream: Upstream,
    upstream_path: &'static str,
    access: Access,
) -> GatewayRoute {
    GatewayRoute {
        method,
        public,
        upstream,
        upstream_path,
        access,
    }
}

pub const ROUTES: &[GatewayRoute] = &[
    route(
        "POST",
        "/api/users/register",
        USER,
        "/register",
        Access::Anyone,
    ),
    route("POST", "/api/users/login", USER, "/login", Access::Anyone),
    route(
        "POST",
        "/api/users/token/refresh",
        USER,
        "/token/refresh",
        Access::User,
    ),
    route("GET", "/api/users/me", USER, "/users/me", Access::User),
    route("GET", "/api/users", USER, "/users", Access::Admin),
    route("GET", "/api/products", PRODUCT, "/products", Access::Anyone),
    route("POST", "/api/products", PRODUCT, "/products", Access::Admin),
    route(
        "GET",
        "/api/products/:id",
        PRODUCT,
        "/products/:id",
        Access::Anyone,
    ),
    route(
        "PATCH",
        "/api/products/:id/stock",
        PRODUCT,
        "/products/:id/stock",
        Access::Admin,
    ),
    route("POST", "/api/orders", ORDER, "/orders", Access::User),
    route("GET", "/api/orders", ORDER, "/orders", Access::User),
    route("GET", "/api/orders/:id", ORDER, "/orders/:id", Access::User),
    route(
        "GET",
        "/api/notifications",
        NOTIFICATION,
        "/notifications",
        Access::User,
    ),
    route(
        "PATCH",
        "/api/notifications/:id/read",
        NOTIFICATION,
        "/notifications/:id/read",
        Access::User,
    ),
];

/// Fills `:param` segments of `template` from `lookup`, percent-encoding each value.
pub fn fill_path(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    for segment in template.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        match segment.strip_prefix(':') {
            Some(name) => out.push_str(&encode_segment(&lookup(name)?)),
            None => out.push_str(segment),
        }
    }
    Some(if out.is_empty() { "/".to_string() } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_rewritten_without_the_public_prefix() {
        let id = |name: &str| (name == "id").then(|| "p 1/x".to_string());
        assert_eq!(fill_path("/register", id).as_deref(), Some("/register"));
        assert_eq!(
            fill_path("/products/:id/stock", id).as_deref(),
            Some("/products/p%201%2Fx/stock")
        );
        assert_eq!(fill_path("/orders/:missing", id), None);
    }

    #[test]
    fn every_contract_route_is_in_the_table_once() {
        let mut seen = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(
                seen.insert((route.method, route.public)),
                "duplicate {} {}",
                route.method,
                route.public
            );
            assert!(route.public.starts_with("/api/"));
        }
        assert_eq!(ROUTES.len(), 14);
    }

    #[test]
    fn writes_need_the_right_role() {
        let access = |method: &str, public: &str| {
            ROUTES
                .iter()
                .find(|r| r.method == method && r.public == public)
                .map(|r| r.access)
        };
        assert_eq!(access("POST", "/api/products"), Some(Access::Admin));
        assert_eq!(
            access("PATCH", "/api/products/:id/stock"),
            Some(Access::Admin)
        );
        assert_eq!(access("GET", "/api/users"), Some(Access::Admin));
        assert_eq!(access("POST", "/api/orders"), Some(Access::User));
        assert_eq!(access("POST", "/api/users/register"), Some(Access::Anyone));
    }
}
