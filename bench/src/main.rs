//! `storefront-bench`: builds the components in release, starts the whole app with fresh state
//! on each chosen host (the runner in a child process, so its memory is measured on its own,
//! and/or real Spin, `$SPIN_BIN` or `spin` on the `PATH`), seeds it, and drives each scenario
//! for a fixed time over keep-alive HTTP/1.1 connections on loopback. Prints one table with the
//! hosts side by side and writes it to `docs/benchmarks.md`.
//!
//! `storefront-bench [--host runner|spin|both] [--seconds 10] [--connections 32]
//! [--products 1000] [--out docs/benchmarks.md] [--only <scenario name part>]`

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use storefront_tests::spin::{SpinLaunch, SpinProcess};

// Each request instantiates components and allocates many short-lived objects across worker
// threads; with mimalloc instead of glibc's malloc, product-by-id throughput in the benchmark
// rose by about 6%.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COMPONENTS: [(&str, &str); 5] = [
    ("api-gateway", "api_gateway"),
    ("user-service", "user_service"),
    ("product-service", "product_service"),
    ("order-service", "order_service"),
    ("notification-service", "notification_service"),
];
const JWT_SECRET: &str = "benchmark-secret-0123456789abcdef0123456789";
const SERVICE_TOKEN_SECRET: &str = "benchmark-service-secret-0123456789abcdef";
const ADMIN: &str = "admin@bench.local";
const PASSWORD: &str = "bench-password";
const WORDS: [&str; 8] = [
    "red", "blue", "lamp", "mug", "chair", "steel", "oak", "wool",
];

/// A host to benchmark the app on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Runner,
    Spin,
}

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::Runner => "runner",
            Host::Spin => "Spin",
        }
    }
}

struct Options {
    hosts: Vec<Host>,
    seconds: u64,
    connections: usize,
    products: usize,
    out: PathBuf,
    /// Run only the scenarios whose name contains this.
    only: Option<String>,
}

fn workspace_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_path_buf()
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        hosts: vec![Host::Runner],
        seconds: 10,
        connections: 32,
        products: 1000,
        out: workspace_root().join("docs/benchmarks.md"),
        only: None,
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => options.seconds = value.parse()?,
            "--connections" => options.connections = value.parse()?,
            "--products" => options.products = value.parse()?,
            "--out" => options.out = PathBuf::from(value),
            "--only" => options.only = Some(value.clone()),
            "--host" => {
                options.hosts = match value.as_str() {
                    "runner" => vec![Host::Runner],
                    "spin" => vec![Host::Spin],
                    "both" => vec![Host::Runner, Host::Spin],
                    other => bail!("--host is runner, spin or both, not {other}"),
                }
            }
            other => bail!("unknown option {other}"),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve(&args[1..]).await;
    }
    run(parse_options(&args)?).await
}

/// The child process: the app in the runner, printing `Serving http://addr` once ready.
async fn serve(args: &[String]) -> Result<()> {
    let [manifest, state, cache, wasm_dir] = args else {
        bail!("serve MANIFEST STATE_DIR CACHE_DIR WASM_DIR");
    };
    let mut variables = storefront_runner::ProvidedValues::default();
    for (name, value) in app_variables() {
        variables.explicit.insert(name.into(), value.into());
    }
    let options = storefront_runner::LoadOptions {
        manifest: manifest.into(),
        state_dir: state.into(),
        runtime_config: None,
        cache_dir: Some(cache.into()),
        variables,
        source_overrides: COMPONENTS
            .iter()
            .map(|(id, file)| {
                (
                    id.to_string(),
                    Path::new(wasm_dir).join(format!("{file}.wasm")),
                )
            })
            .collect(),
        request_timeout: None,
    };
    let running = storefront_runner::RunningApp::start(options, ([127, 0, 0, 1], 0).into()).await?;
    println!("Serving http://{}", running.addr());
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}

fn build_components() -> Result<PathBuf> {
    let target = workspace_root().join("target").join("bench");
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release", "--target", "wasm32-wasip2"]);
    for (id, _) in COMPONENTS {
        command.args(["-p", id]);
    }
    if !command.status()?.success() {
        bail!("building the components failed");
    }
    Ok(target.join("wasm32-wasip2").join("release"))
}

/// The app being measured; stopped when dropped.
enum Server {
    /// The runner, in a child process of this binary (`serve`).
    Runner { child: Child, addr: SocketAddr },
    /// `spin up`, whose `spin trigger http` child serves.
    Spin(SpinProcess),
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Runner { child, .. } = self {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Server::Runner { addr, .. } => *addr,
            Server::Spin(process) => process.addr(),
        }
    }

    /// The process whose memory is the host's.
    fn serving_pid(&self) -> Option<u32> {
        match self {
            Server::Runner { child, .. } => Some(child.id()),
            Server::Spin(process) => process.trigger_pid(),
        }
    }
}

/// Where one host's app runs: its manifest and built components, its state and caches.
struct Setup<'a> {
    manifest: &'a Path,
    wasm: &'a Path,
    work: &'a Path,
}

/// Starts the app on `host` with fresh state `name` and waits for the first 200 from
/// `/health`; `cold` starts without any compiled-component cache.
async fn start(
    host: Host,
    setup: &Setup<'_>,
    name: &str,
    cold: bool,
) -> Result<(Server, Duration)> {
    let state = setup.work.join(name);
    std::fs::create_dir_all(&state)?;
    let started = Instant::now();
    let server = match host {
        Host::Runner => {
            let cache = setup.work.join(if cold { "cache-cold" } else { "cache" });
            let mut child = Command::new(std::env::current_exe()?)
                .arg("serve")
                .args([setup.manifest, &state, &cache, setup.wasm])
                .stdout(Stdio::piped())
                .spawn()?;
            let line = BufReader::new(child.stdout.take().context("stdout")?)
                .lines()
                .next()
                .context("no output")??;
            let addr: SocketAddr = line
                .strip_prefix("Serving http://")
                .context("unexpected output")?
                .parse()?;
            Server::Runner { child, addr }
        }
        Host::Spin => {
            let sources = COMPONENTS
                .iter()
                .map(|(id, file)| (id.to_string(), setup.wasm.join(format!("{file}.wasm"))))
                .collect();
            let manifest = storefront_tests::spin::manifest_with_sources(
                setup.manifest,
                &sources,
                &setup.work.join(format!("spin-{name}.toml")),
            )?;
            let storage = storefront_tests::Storage {
                one_database_file: false,
                redis: None,
            };
            let launch = SpinLaunch {
                manifest,
                runtime_config: storage.runtime_config(&state)?,
                state_dir: state.clone(),
                variables: app_variables()
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect(),
                output_dir: state.join("spin-output"),
                extra_args: if cold {
                    vec!["--disable-cache".to_string()]
                } else {
                    Vec::new()
                },
            };
            Server::Spin(SpinProcess::start(&launch).await?)
        }
    };
    let mut connection = Connection::open(server.addr()).await?;
    loop {
        let (status, _) = connection.call(get("/health")).await?;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((server, started.elapsed()))
}

/// The variables the app runs with in every benchmark: rate limits off.
fn app_variables() -> [(&'static str, &'static str); 5] {
    [
        ("jwt_secret", JWT_SECRET),
        ("service_token_secret", SERVICE_TOKEN_SECRET),
        ("admin_emails", ADMIN),
        ("rate_limit_per_minute", "0"),
        ("rate_limit_per_user_per_minute", "0"),
    ]
}

/// Starts a new peak-RSS window for `pid` (Linux resets VmHWM to the current RSS).
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    async fn call(&mut self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

fn get(path: &str) -> Request<Full<Bytes>> {
    request("GET", path, None, None)
}

fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
}

#[derive(Debug, Default)]
struct Stats {
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: usize,
    errors: usize,
}

type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;

/// Drives `connections` keep-alive connections for `duration`, each sending `make` requests.
async fn load(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: MakeRequest,
) -> Stats {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..connections).map(|worker| {
        let make = make.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut non_2xx, mut errors) = (0, 0);
            let Ok(mut connection) = Connection::open(addr).await else {
                return (latencies, non_2xx, 1);
            };
            let mut sequence = 0;
            while Instant::now() < deadline {
                let request = make(worker, sequence);
                sequence += 1;
                let sent = Instant::now();
                match connection.call(request).await {
                    Ok((status, _)) => {
                        latencies.push(sent.elapsed());
                        if !(200..300).contains(&status) {
                            non_2xx += 1;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        match Connection::open(addr).await {
                            Ok(fresh) => connection = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            (latencies, non_2xx, errors)
        })
    });
    let mut all = Vec::new();
    let mut stats = Stats::default();
    for worker in futures::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
    {
        let (latencies, non_2xx, errors) = worker;
        all.extend(latencies);
        stats.non_2xx += non_2xx;
        stats.errors += errors;
    }
    stats.seconds = started.elapsed().as_secs_f64();
    all.sort();
    stats.requests = all.len();
    let percentile = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    stats.p50_ms = percentile(0.50);
    stats.p99_ms = percentile(0.99);
    stats
}

async fn seed(addr: SocketAddr, products: usize) -> Result<(String, Vec<String>, String)> {
    let mut connection = Connection::open(addr).await?;
    let register = |email: &str| {
        request(
            "POST",
            "/api/users/register",
            None,
            Some(json!({"email": email, "password": PASSWORD, "name": "Bench"})),
        )
    };
    let (_, body) = connection.call(register(ADMIN)).await?;
    let admin: Value = serde_json::from_slice(&body)?;
    let admin_token = admin["data"]["token"]
        .as_str()
        .context("admin token")?
        .to_string();
    let mut ids = Vec::with_capacity(products);
    for index in 0..products {
        let name = format!(
            "{} {} {index}",
            WORDS[index % WORDS.len()],
            WORDS[(index / 8) % WORDS.len()]
        );
        let body = json!({"name": name, "description": format!("A {} item for benchmarks", WORDS[(index + 3) % WORDS.len()]),
            "price": 1 + index % 500, "category": format!("cat{}", index % 10), "stock": 1_000_000});
        let (status, answer) = connection
            .call(request(
                "POST",
                "/api/products",
                Some(&admin_token),
                Some(body),
            ))
            .await?;
        if status != 201 {
            bail!(
                "seeding product {index} failed: {status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
        let product: Value = serde_json::from_slice(&answer)?;
        ids.push(product["data"]["id"].as_str().context("id")?.to_string());
    }
    let mut buyer_token = String::new();
    for user in 0..10 {
        let (_, body) = connection
            .call(register(&format!("user{user}@bench.local")))
            .await?;
        let user: Value = serde_json::from_slice(&body)?;
        buyer_token = user["data"]["token"].as_str().context("token")?.to_string();
    }
    Ok((admin_token, ids, buyer_token))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!(
        "{cores} cores ({cpu}), {memory_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

fn run_date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default()
}

/// What one host measured.
struct HostRun {
    host: Host,
    /// Per scenario: its stats and the host's peak RSS within it (MiB).
    rows: Vec<(String, Stats, Option<f64>)>,
    peak_rss: f64,
    cold_start: Duration,
    warm_start: Duration,
}

/// Every scenario, in the order they run: name, connections, request maker.
fn scenarios(
    c: usize,
    ids: Arc<Vec<String>>,
    buyer: String,
) -> Vec<(&'static str, usize, MakeRequest)> {
    vec![
        ("GET /api/products/{id}", c, {
            let ids = ids.clone();
            Arc::new(move |w, s| {
                get(&format!(
                    "/api/products/{}",
                    ids[(w * 7919 + s as usize) % ids.len()]
                ))
            })
        }),
        (
            "GET /direct/products-svc/products/{id} (no gateway hop)",
            c,
            {
                let ids = ids.clone();
                Arc::new(move |w, s| {
                    get(&format!(
                        "/direct/products-svc/products/{}",
                        ids[(w * 7919 + s as usize) % ids.len()]
                    ))
                })
            },
        ),
        (
            "GET /api/products?page=2&limit=20",
            c,
            Arc::new(|_, _| get("/api/products?page=2&limit=20")),
        ),
        (
            "GET /api/products?search={word}",
            c,
            Arc::new(|w, s| {
                get(&format!(
                    "/api/products?search={}",
                    WORDS[(w + s as usize) % WORDS.len()]
                ))
            }),
        ),
        (
            "POST /api/users/login",
            c.min(8),
            Arc::new(|w, _| {
                request(
                    "POST",
                    "/api/users/login",
                    None,
                    Some(
                        json!({"email": format!("user{}@bench.local", w % 10), "password": PASSWORD}),
                    ),
                )
            }),
        ),
        ("POST /api/orders (1 item)", c.min(16), {
            Arc::new(move |w, s| {
                request(
                    "POST",
                    "/api/orders",
                    Some(&buyer),
                    Some(
                        json!({"items": [{"productId": ids[(w * 31 + s as usize) % ids.len()], "quantity": 1}], "shippingAddress": {"street": "1 Main", "city": "X", "postalCode": "1", "country": "US"}}),
                    ),
                )
            })
        }),
        ("GET /health", c, Arc::new(|_, _| get("/health"))),
    ]
}

/// Starts the app on `host` (cold, then warm on fresh state), seeds it and runs the scenarios.
async fn run_host(host: Host, setup: &Setup<'_>, options: &Options) -> Result<HostRun> {
    let prefix = host.name().to_ascii_lowercase();
    let (cold, cold_start) = start(host, setup, &format!("{prefix}-state-cold"), true).await?;
    drop(cold);
    // A start that fills the compiled-component cache, then the measured restart from it.
    drop(start(host, setup, &format!("{prefix}-state-fill"), false).await?);
    let (server, warm_start) = start(host, setup, &format!("{prefix}-state"), false).await?;
    let addr = server.addr();
    eprintln!("[{}] seeding {} products", host.name(), options.products);
    let (_, ids, buyer) = seed(addr, options.products).await?;
    let duration = Duration::from_secs(options.seconds);
    let selected = scenarios(options.connections, Arc::new(ids), buyer)
        .into_iter()
        .filter(|(name, _, _)| {
            options
                .only
                .as_deref()
                .is_none_or(|only| name.contains(only))
        });
    let pid = server.serving_pid().context("no serving process")?;
    let mut peak_rss = peak_rss_mib(pid).unwrap_or(0.0);
    let mut rows = Vec::new();
    for (name, connections, make) in selected {
        eprintln!(
            "[{}] running {name} for {}s with {connections} connections",
            host.name(),
            options.seconds
        );
        let windowed = reset_peak_rss(pid);
        let stats = load(addr, connections, duration, make).await;
        let peak = peak_rss_mib(pid);
        peak_rss = peak_rss.max(peak.unwrap_or(0.0));
        rows.push((
            format!("{name} ({connections} conns)"),
            stats,
            peak.filter(|_| windowed),
        ));
    }
    Ok(HostRun {
        host,
        rows,
        peak_rss,
        cold_start,
        warm_start,
    })
}

/// The scenario table, every host's columns side by side.
fn scenario_table(runs: &[HostRun]) -> String {
    let mut header = String::from("| Scenario |");
    let mut rule = String::from("|---|");
    for run in runs {
        let host = run.host.name();
        header.push_str(&format!(
            " {host} req/s | {host} p50 ms | {host} p99 ms | {host} non-2xx / errors | {host} peak RSS MiB |"
        ));
        rule.push_str("---:|---:|---:|---:|---:|");
    }
    let mut table = format!("{header}\n{rule}\n");
    let scenario_count = runs.first().map_or(0, |run| run.rows.len());
    for index in 0..scenario_count {
        table.push_str(&format!("| {} |", runs[0].rows[index].0));
        for run in runs {
            let (_, stats, peak) = &run.rows[index];
            let peak = peak.map_or_else(|| "n/a".to_string(), |mib| format!("{mib:.0}"));
            table.push_str(&format!(
                " {:.0} | {:.2} | {:.2} | {} / {} | {peak} |",
                stats.requests as f64 / stats.seconds.max(0.001),
                stats.p50_ms,
                stats.p99_ms,
                stats.non_2xx,
                stats.errors
            ));
        }
        table.push('\n');
    }
    table
}

async fn run(options: Options) -> Result<()> {
    // Asked before any scenario runs, so a missing Spin fails the run at once rather than
    // after the runner's half of it.
    let spin_version = if options.hosts.contains(&Host::Spin) {
        let binary = storefront_tests::spin::spin_binary();
        let out = Command::new(&binary)
            .arg("--version")
            .output()
            .with_context(|| {
                format!(
                    "cannot run `{}` (set SPIN_BIN to the Spin CLI)",
                    binary.display()
                )
            })?;
        format!(" Spin: `{}`.", String::from_utf8_lossy(&out.stdout).trim())
    } else {
        String::new()
    };
    let wasm = build_components()?;
    let dir = tempfile::tempdir()?;
    let text = std::fs::read_to_string(workspace_root().join("spin.toml"))?;
    // The product service also mounted directly, to measure the cost of the gateway hop.
    let text = text.replacen(
        "[[trigger.http]]\nroute = { private = true }\ncomponent = \"product-service\"",
        "[[trigger.http]]\nroute = \"/direct/products-svc/...\"\ncomponent = \"product-service\"",
        1,
    );
    let manifest = dir.path().join("spin.toml");
    std::fs::write(&manifest, text)?;
    let setup = Setup {
        manifest: &manifest,
        wasm: &wasm,
        work: dir.path(),
    };
    let mut runs = Vec::new();
    for host in &options.hosts {
        runs.push(run_host(*host, &setup, &options).await?);
    }

    let table = scenario_table(&runs);
    let mut memory = String::new();
    let mut startup = String::from(
        "| Host | cold (compiling every component) | restart with compiled cache |\n|---|---:|---:|\n",
    );
    for run in &runs {
        memory.push_str(&format!(
            "{}: **{:.0} MiB**. ",
            run.host.name(),
            run.peak_rss
        ));
        startup.push_str(&format!(
            "| {} | {:.0} ms | {:.0} ms |\n",
            run.host.name(),
            run.cold_start.as_secs_f64() * 1000.0,
            run.warm_start.as_secs_f64() * 1000.0
        ));
    }
    let sizes: String = COMPONENTS
        .iter()
        .map(|(id, file)| {
            let bytes = std::fs::metadata(wasm.join(format!("{file}.wasm"))).map_or(0, |m| m.len());
            format!("| {id} | {:.0} KiB |\n", bytes as f64 / 1024.0)
        })
        .collect();
    let hosts = match options.hosts.as_slice() {
        [Host::Runner] => "runner",
        [Host::Spin] => "spin",
        _ => "both",
    };
    let command = format!(
        "cargo bench-app --host {hosts} --seconds {} --connections {} --products {}",
        options.seconds, options.connections, options.products
    );
    let report = format!(
        "# Benchmarks\n\n<!-- Generated by `cargo bench-app`; everything above `## Analysis` is rewritten on each run. -->\n\n\
         Run {}. Machine: {}.{spin_version} Load generator: this binary, sharing the cores with the host, \
         {} s per scenario on loopback keep-alive HTTP/1.1 connections. Rate limiting off; {} products \
         and 11 users seeded into fresh state on each host; the hosts run one after the other.\n\n\
         Command: `{command}`\n\n\
         {table}\nPeak RSS is the serving process's (the runner; Spin's `spin trigger http`) within each \
         scenario. Over the whole run, seeding included: {memory}\n\n\
         Start-up to the first 200 on `/health`:\n\n{startup}\n\
         | Component | .wasm size (release) |\n|---|---:|\n{sizes}",
        run_date(),
        machine(),
        options.seconds,
        options.products,
    );
    println!("{report}");
    if let Some(parent) = options.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Keep the hand-written analysis that follows the generated part.
    let analysis = std::fs::read_to_string(&options.out)
        .ok()
        .and_then(|old| old.find("\n## Analysis").map(|at| old[at..].to_string()))
        .unwrap_or_default();
    std::fs::write(&options.out, format!("{report}{analysis}"))?;
    eprintln!("written to {}", options.out.display());
    Ok(())
}
