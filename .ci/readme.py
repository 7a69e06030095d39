#!/usr/bin/env python3
"""Runs the commands README.md shows, as a new user would type them, from the checkout.

Every command line in a ```sh block of README.md is one of:
- marked `# not run by CI: <reason>` (it needs what CI lacks: the Spin CLI, a cloud account, a
  cluster, the optimised benchmark build); the README's "Commands CI does not run" section
  lists them, and this script checks that list and the marks agree;
- what CI itself runs (`cargo test --workspace`, the lints, `bash .ci/run`);
- run here, exactly as written: the serve command (`cargo up`) is started in the background,
  `/health` waited for, a user registered and logged in through it (and the other commands that
  talk to the served app run meanwhile), and then it is stopped.
A command line this script does not know fails CI: a README command that changes must change
here too.

Usage: python3 .ci/readme.py [README.md]
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

README = sys.argv[1] if len(sys.argv) > 1 else "README.md"
NOT_RUN = re.compile(r"#\s*not run by CI:\s*(.+)$")
BASE = "http://127.0.0.1:3000"

# What CI already runs in .ci/run before this script.
RUN_BY_CI = [
    re.compile(r"^cargo test --workspace\b"),
    re.compile(r"^cargo fmt\b"),
    re.compile(r"^cargo clippy\b"),
    re.compile(r"^bash \.ci/run\b"),
]
# Run here, as written, before the app is served.
RUN_FIRST = [
    re.compile(r"^rustup target add wasm32-wasip2$"),
    re.compile(r"^cargo run -p storefront-runner -- split$"),
]
# The serve command, and the commands that talk to the served app.
SERVE = re.compile(r"^cargo up$")
WHILE_SERVING = [re.compile(r"^curl -s http://127\.0\.0\.1:3000/\S+$")]


def commands(text):
    """Every command line of the README's ```sh blocks: (line as written, without comment)."""
    found = []
    in_block = False
    continued = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_block = stripped == "```sh" and not in_block
            continue
        if not in_block or not stripped or stripped.startswith("#"):
            continue
        line = continued + line
        if line.rstrip().endswith("\\"):
            continued = line.rstrip()[:-1] + " "
            continue
        continued = ""
        command = re.sub(r"\s+#.*$", "", line).strip()
        found.append((line.strip(), command))
    return found


def not_run_section(text):
    """The commands the README's "Commands CI does not run" section lists."""
    match = re.search(r"^#+ Commands CI does not run\n(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    if not match:
        return set()
    return set(re.findall(r"^- `([^`]+)`", match.group(1), re.M))


def get(path, timeout=5):
    with urllib.request.urlopen(BASE + path, timeout=timeout) as response:
        return response.status, response.read()


def post(path, body):
    request = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def serve_and_check(command, while_serving):
    print(f"-- serving with the README's command: {command}", flush=True)
    log = open("target/readme-serve.log", "w")
    # Its own process group, so that stopping it reaches the runner `cargo run` started.
    server = subprocess.Popen(command, shell=True, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.time() + 1800
        while True:
            if server.poll() is not None:
                raise SystemExit(f"`{command}` exited ({server.returncode}) before serving; "
                                 "see target/readme-serve.log")
            try:
                status, _ = get("/health", timeout=2)
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.time() > deadline:
                raise SystemExit(f"`{command}` did not serve /health in time")
            time.sleep(1)
        print("   /health answers 200", flush=True)
        email = f"readme-{int(time.time())}@example.com"
        status, body = post("/api/users/register",
                            {"email": email, "password": "correct-horse", "name": "Reader"})
        if status != 201:
            raise SystemExit(f"register through `{command}`: {status} {body}")
        status, body = post("/api/users/login", {"email": email, "password": "correct-horse"})
        if status != 200 or not body.get("data", {}).get("token"):
            raise SystemExit(f"login through `{command}`: {status} {body}")
        print(f"   registered and logged in {email}", flush=True)
        for line in while_serving:
            print(f"-- {line}", flush=True)
            subprocess.run(line, shell=True, check=True, stdout=subprocess.DEVNULL)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    print(f"   stopped `{command}`", flush=True)


def main():
    text = open(README).read()
    listed = not_run_section(text)
    marked = set()
    first, serve, while_serving, unknown = [], None, [], []
    for line, command in commands(text):
        reason = NOT_RUN.search(line)
        if reason:
            marked.add(command)
            print(f"-- not run by CI ({reason.group(1).strip()}): {command}")
        elif any(pattern.search(command) for pattern in RUN_BY_CI):
            print(f"-- run by .ci/run itself: {command}")
        elif any(pattern.search(command) for pattern in RUN_FIRST):
            first.append(command)
        elif SERVE.search(command):
            serve = command
        elif any(pattern.search(command) for pattern in WHILE_SERVING):
            while_serving.append(command)
        else:
            unknown.append(command)
    if unknown:
        raise SystemExit("README commands .ci/readme.py does not know (run them here, or mark "
                         "them `# not run by CI: <reason>`):\n  " + "\n  ".join(unknown))
    if marked != listed:
        raise SystemExit("the README's `# not run by CI` marks and its \"Commands CI does not "
                         f"run\" list differ:\n  marked only: {sorted(marked - listed)}\n"
                         f"  listed only: {sorted(listed - marked)}")
    if serve is None:
        raise SystemExit("the README shows no serve command (`cargo up`)")
    for command in first:
        print(f"-- {command}", flush=True)
        subprocess.run(command, shell=True, check=True)
    serve_and_check(serve, while_serving)


if __name__ == "__main__":
    main()
