//! The `storefront-runner` binary itself: `up` (with and without `--dev`), `build` and the
//! start-up checks, from the command line as a user runs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds the probe component into the harness's target directory (its own: the `cargo test`
/// running us holds the workspace one's lock), once for all the tests of this binary.
fn probe_wasm() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(build_probe)
}

fn build_probe() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target").join("harness");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "runner-probe",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the probe failed");
    target.join("wasm32-wasip2/release/runner_probe.wasm")
}

fn manifest(dir: &Path, extra_variables: &str) -> PathBuf {
    let path = dir.join("spin.toml");
    let text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"probe\"\n[variables]\n{extra_variables}\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = \"{}\"\n",
        probe_wasm().display()
    );
    std::fs::write(&path, text).expect("write manifest");
    path
}

fn get(address: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

/// Starts `up` on a free port and returns the process and the address it serves.
fn serve(manifest: &Path, state_dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_storefront-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runner starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let serving = lines.next().expect("a line").expect("utf-8");
    let address = serving
        .strip_prefix("Serving http://")
        .expect("`Serving http://…` first")
        .to_string();
    // Keep reading: a closed pipe would fail the runner's later lines.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

/// Sends SIGTERM and returns how the runner exited.
fn stop(mut child: Child) -> ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "runner did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serves_the_manifest_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest(dir.path(), "");
    let (child, address) = serve(&manifest, &dir.path().join("state"), &[]);

    let answer = get(&address, "/anything");

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = stop(child);
    assert!(status.success(), "clean exit after SIGTERM: {status}");
}

#[test]
fn dev_mode_generates_a_missing_secret_once_and_keeps_it_private() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest(dir.path(), "api_key = { required = true, secret = true }");
    let state = dir.path().join("state");
    let secrets_file = state.join("dev-secrets.toml");

    let (first, address) = serve(&manifest, &state, &["--dev"]);
    let answer = get(&address, "/anything");
    stop(first);
    let generated = std::fs::read_to_string(&secrets_file).expect("secrets kept");
    let (second, _) = serve(&manifest, &state, &["--dev"]);
    stop(second);

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let value: toml::Table = toml::from_str(&generated).expect("a TOML table");
    let api_key = value["api_key"].as_str().expect("api_key generated");
    assert_eq!(api_key.len(), 64, "32 random bytes, hex");
    assert_eq!(
        std::fs::read_to_string(&secrets_file).expect("kept"),
        generated
    );
    let mode = std::fs::metadata(&secrets_file)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
}

#[test]
fn a_missing_required_variable_fails_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest(dir.path(), "api_key = { required = true, secret = true }");

    let output = Command::new(env!("CARGO_BIN_EXE_storefront-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(&manifest)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("SPIN_VARIABLE_API_KEY")
        .output()
        .expect("runner runs");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("api_key"), "{stderr}");
}

fn app_with_build_command(dir: &Path) -> PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).expect("app dir");
    std::fs::write(
        app.join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"a\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n\
         [component.c]\nsource = \"c.wasm\"\n[component.c.build]\ncommand = \"pwd > built-here.txt\"\n",
    )
    .expect("write manifest");
    app
}

/// Where the build command of [`app_with_build_command`] ran.
fn built_in(app: &Path) -> PathBuf {
    let recorded = std::fs::read_to_string(app.join("built-here.txt")).expect("the build ran");
    std::fs::canonicalize(recorded.trim()).expect("canonical")
}

/// Runs `storefront-runner build` with `args` from the directory `from`; it must succeed.
fn build(args: &[&str], from: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_storefront-runner"))
        .arg("build")
        .args(args)
        .current_dir(from)
        .output()
        .expect("runner runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn build_with_the_default_manifest_runs_in_the_app_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_with_build_command(dir.path());

    build(&[], &app);

    assert_eq!(
        built_in(&app),
        std::fs::canonicalize(&app).expect("canonical")
    );
}

#[test]
fn build_with_a_relative_manifest_from_another_directory_runs_in_the_app_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_with_build_command(dir.path());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("other dir");

    build(&["--from", "../app/spin.toml"], &elsewhere);

    assert_eq!(
        built_in(&app),
        std::fs::canonicalize(&app).expect("canonical")
    );
    assert!(!elsewhere.join("built-here.txt").exists());
}
