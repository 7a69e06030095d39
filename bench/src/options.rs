//! The command line.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use storefront_tests::workspace_root;

/// A host to benchmark the app on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Runner,
    Spin,
}

impl Host {
    pub fn name(self) -> &'static str {
        match self {
            Host::Runner => "runner",
            Host::Spin => "Spin",
        }
    }
}

pub struct Options {
    pub hosts: Vec<Host>,
    pub seconds: u64,
    pub connections: usize,
    pub products: usize,
    pub out: PathBuf,
    /// Run only the scenarios whose name contains this.
    pub only: Option<String>,
    /// The checkout whose `spin.toml` and components are measured: this one, or another
    /// revision's (a `git worktree`) to compare with.
    pub app: PathBuf,
}

pub const USAGE: &str = "storefront-bench [--host runner|spin|both] [--seconds 10] \
[--connections 16] [--products 1000] [--only <part of a scenario name>] [--app <checkout>] \
[--out docs/benchmarks.md]";

pub fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        hosts: vec![Host::Runner],
        seconds: 10,
        connections: 16,
        products: 1000,
        out: workspace_root().join("docs/benchmarks.md"),
        only: None,
        app: workspace_root(),
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .with_context(|| format!("{flag} needs a value\nusage: {USAGE}"))?;
        match flag.as_str() {
            "--seconds" => options.seconds = value.parse()?,
            "--connections" => options.connections = value.parse()?,
            "--products" => options.products = value.parse()?,
            "--out" => options.out = PathBuf::from(value),
            "--only" => options.only = Some(value.clone()),
            "--app" => {
                options.app = std::fs::canonicalize(value)
                    .with_context(|| format!("--app {value}: no such checkout"))?;
            }
            "--host" => {
                options.hosts = match value.as_str() {
                    "runner" => vec![Host::Runner],
                    "spin" => vec![Host::Spin],
                    "both" => vec![Host::Runner, Host::Spin],
                    other => bail!("--host is runner, spin or both, not {other}"),
                }
            }
            other => bail!("unknown option {other}\nusage: {USAGE}"),
        }
    }
    if options.connections == 0 {
        bail!("--connections must be at least 1");
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_are_sixteen_connections_on_the_runner_for_this_checkout() {
        let options = parse(&[]).expect("defaults");

        assert_eq!(options.hosts, vec![Host::Runner]);
        assert_eq!(options.connections, 16);
        assert_eq!(options.app, workspace_root());
    }

    #[test]
    fn a_flag_without_its_value_or_an_unknown_one_is_refused() {
        assert!(parse(&args("--seconds")).is_err());
        assert!(parse(&args("--fast 1")).is_err());
        assert!(parse(&args("--host cloud")).is_err());
        assert!(parse(&args("--connections 0")).is_err());
    }
}
