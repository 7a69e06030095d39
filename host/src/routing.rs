//! Spin's HTTP route matching: exact routes beat wildcards, and the longest wildcard prefix wins.

use anyhow::{Result, bail};

/// One public route of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/health`: this path only.
    Exact(String),
    /// `/api/...`: the prefix and everything below it (stored without the trailing `/...`).
    Wildcard(String),
}

impl Route {
    pub fn parse(route: &str) -> Result<Self> {
        if !route.starts_with('/') {
            bail!("route `{route}` must start with `/`");
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            return Ok(Route::Wildcard(prefix.to_string()));
        }
        if route.contains("...") {
            bail!("route `{route}`: `...` is only allowed as the final segment");
        }
        Ok(Route::Exact(trim_trailing_slash(route).to_string()))
    }

    /// The route as written in the manifest, as Spin reports it in `spin-component-route`.
    pub fn as_manifest_str(&self) -> String {
        match self {
            Route::Exact(path) => path.clone(),
            Route::Wildcard(prefix) => format!("{prefix}/..."),
        }
    }
}

fn trim_trailing_slash(path: &str) -> &str {
    if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    }
}

/// The outcome of matching a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a, T> {
    pub target: &'a T,
    pub route: &'a Route,
    /// The part of the path below the matched prefix (`spin-path-info`).
    pub path_info: String,
}

/// A route table mapping routes to targets (component indexes in the runner).
#[derive(Debug, Clone)]
pub struct RouteTable<T> {
    routes: Vec<(Route, T)>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        Self { routes: Vec::new() }
    }
}

impl<T> RouteTable<T> {
    pub fn add(&mut self, route: Route, target: T) -> Result<()> {
        if self.routes.iter().any(|(existing, _)| *existing == route) {
            bail!("duplicate route `{}`", route.as_manifest_str());
        }
        self.routes.push((route, target));
        Ok(())
    }

    pub fn routes(&self) -> impl Iterator<Item = &(Route, T)> {
        self.routes.iter()
    }

    /// Finds the route for `path` (no query string).
    pub fn find(&self, path: &str) -> Option<RouteMatch<'_, T>> {
        let path = trim_trailing_slash(path);
        if let Some((route, target)) = self
            .routes
            .iter()
            .find(|(route, _)| matches!(route, Route::Exact(exact) if exact == path))
        {
            return Some(RouteMatch {
                target,
                route,
                path_info: String::new(),
            });
        }
        self.routes
            .iter()
            .filter_map(|(route, target)| match route {
                Route::Wildcard(prefix) => {
                    let rest = path.strip_prefix(prefix.as_str())?;
                    // `/api/...` matches `/api` and `/api/x`, never `/apix`.
                    (rest.is_empty() || rest.starts_with('/')).then_some((
                        prefix.len(),
                        route,
                        target,
                        rest,
                    ))
                }
                Route::Exact(_) => None,
            })
            .max_by_key(|(len, ..)| *len)
            .map(|(_, route, target, rest)| RouteMatch {
                target,
                route,
                path_info: rest.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable<&'static str> {
        let mut table = RouteTable::default();
        for (route, target) in [
            ("/...", "root"),
            ("/api/...", "api"),
            ("/api/users/...", "users"),
            ("/api/exact", "exact"),
        ] {
            table
                .add(Route::parse(route).expect("valid"), target)
                .expect("unique");
        }
        table
    }

    /// Where the test table sends `path`: the target, and the path after the route's prefix.
    fn routed(path: &str) -> Option<(&'static str, String)> {
        table()
            .find(path)
            .map(|found| (*found.target, found.path_info))
    }

    fn target(path: &str) -> Option<&'static str> {
        routed(path).map(|(target, _)| target)
    }

    #[test]
    fn exact_route_beats_any_wildcard() {
        assert_eq!(routed("/api/exact"), Some(("exact", String::new())));
    }

    #[test]
    fn longest_wildcard_prefix_wins() {
        assert_eq!(
            routed("/api/users/register"),
            Some(("users", "/register".into()))
        );
        assert_eq!(target("/api/products"), Some("api"));
        assert_eq!(target("/health"), Some("root"));
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        assert_eq!(target("/apix"), Some("root"));
        assert_eq!(target("/api"), Some("api"));
    }

    #[test]
    fn no_route_no_match() {
        let mut table = RouteTable::default();
        table
            .add(Route::parse("/only").expect("valid"), 1)
            .expect("unique");
        assert!(table.find("/other").is_none());
    }

    #[test]
    fn rejects_malformed_and_duplicate_routes() {
        assert!(Route::parse("no-slash").is_err());
        assert!(Route::parse("/a/.../b").is_err());
        let mut table = RouteTable::default();
        table
            .add(Route::parse("/a/...").expect("valid"), 1)
            .expect("first");
        assert!(
            table
                .add(Route::parse("/a/...").expect("valid"), 2)
                .is_err()
        );
    }
}
