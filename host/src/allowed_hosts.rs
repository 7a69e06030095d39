//! `allowed_outbound_hosts`: which URLs a component may call, as Spin spells them
//! (`scheme://host[:port]`, with `*` for any scheme, host or port and `*.domain` for subdomains).

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: Option<u16>,
    any_port: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Subdomains(String),
}

/// The parsed allow-list of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> Result<Self> {
        let entries = entries
            .iter()
            .map(|entry| {
                parse_entry(entry)
                    .with_context(|| format!("allowed_outbound_hosts entry `{entry}`"))
            })
            .collect::<Result<_>>()?;
        Ok(Self { entries })
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        let port = port.or_else(|| default_port(scheme));
        self.entries.iter().any(|entry| {
            let scheme_ok = entry.scheme.as_deref().is_none_or(|s| s == scheme);
            let host_ok = match &entry.host {
                HostPattern::Any => true,
                HostPattern::Exact(exact) => *exact == host,
                HostPattern::Subdomains(domain) => host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.')),
            };
            let port_ok = entry.any_port
                || entry
                    .port
                    .or_else(|| entry.scheme.as_deref().and_then(default_port))
                    == port;
            scheme_ok && host_ok && port_ok
        })
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost> {
    let (scheme, rest) = entry
        .split_once("://")
        .context("must be `scheme://host`, e.g. `https://example.com`")?;
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        bail!("must not contain a path");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let (port, any_port) = match port {
        None => (None, false),
        Some("*") => (None, true),
        Some(port) => (Some(port.parse::<u16>().context("invalid port")?), false),
    };
    let host = host.to_ascii_lowercase();
    let host = if host == "*" {
        HostPattern::Any
    } else if let Some(domain) = host.strip_prefix("*.") {
        HostPattern::Subdomains(domain.to_string())
    } else if host.is_empty() {
        bail!("missing host");
    } else {
        HostPattern::Exact(host)
    };
    let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
    if scheme.is_none() && port.is_none() && !any_port {
        bail!("a `*` scheme needs an explicit port");
    }
    Ok(AllowedHost {
        scheme,
        host,
        port,
        any_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
            .expect("valid entries")
    }

    #[test]
    fn exact_host_with_default_port() {
        let allowed = hosts(&["http://user-service.spin.internal"]);
        assert!(allowed.allows("http", "user-service.spin.internal", None));
        assert!(allowed.allows("http", "user-service.spin.internal", Some(80)));
        assert!(!allowed.allows("https", "user-service.spin.internal", None));
        assert!(!allowed.allows("http", "order-service.spin.internal", None));
        assert!(!allowed.allows("http", "user-service.spin.internal", Some(8080)));
    }

    #[test]
    fn wildcards_for_port_and_subdomain() {
        let allowed = hosts(&["http://127.0.0.1:*", "https://*.example.com"]);
        assert!(allowed.allows("http", "127.0.0.1", Some(4321)));
        assert!(allowed.allows("https", "api.example.com", None));
        assert!(!allowed.allows("https", "example.com", None));
        assert!(!allowed.allows("https", "evilexample.com", None));
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!AllowedHosts::default().allows("http", "localhost", None));
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for entry in [
            "example.com",
            "http://",
            "http://a/b",
            "http://a:notaport",
            "*://a",
        ] {
            assert!(
                AllowedHosts::parse(&[entry.to_string()]).is_err(),
                "{entry} should be rejected"
            );
        }
    }
}
