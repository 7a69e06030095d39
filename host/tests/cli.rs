//! The `storefront-runner` binary itself: it serves a manifest and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Builds the probe component into the harness's target directory (its own: the `cargo test`
/// running us holds the workspace one's lock).
fn probe_wasm() -> PathBuf {
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

#[test]
fn serves_the_manifest_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest(dir.path(), "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_storefront-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(&manifest)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("runner starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let serving = lines.next().expect("a line").expect("utf-8");
    let address = serving
        .strip_prefix("Serving http://")
        .expect("`Serving http://…` first")
        .to_string();

    let answer = get(&address, "/anything");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "runner did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit after SIGTERM: {status}");
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
