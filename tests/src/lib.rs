//! Helpers for the end-to-end tests: start the real binaries on 127.0.0.1
//! with port 0, learn their addresses, capture their logs, and wait on
//! conditions with deadlines (never a bare sleep).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_client::Client;
use cluster_proto::{StatusResponse, WorkerState};

/// A command for a workspace binary that inherits none of the developer's
/// `CLUSTER_*` variables (a secret in the shell must not change a test).
fn command(name: &str) -> Command {
    let mut command = Command::new(bin(name));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CLUSTER_") {
            command.env_remove(key);
        }
    }
    command
}

/// How long any single wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The seed's batch: Parallel Python's eight inputs, each twice.
pub const SEED_INPUTS: [u64; 16] = [
    500000, 500100, 500200, 500300, 500400, 500500, 500600, 500700, 500000, 500100, 500200, 500300, 500400,
    500500, 500600, 500700,
];

/// The sum of primes below each of the seed's inputs, as Parallel Python printed them.
pub fn seed_sum(n: u64) -> u64 {
    match n {
        100 => 1060,
        500000 => 9914236195,
        500100 => 9917236483,
        500200 => 9922237979,
        500300 => 9926740220,
        500400 => 9930743046,
        500500 => 9934746636,
        500600 => 9938250425,
        500700 => 9941254397,
        _ => panic!("no known sum for {n}"),
    }
}

/// Path of a workspace binary. The test command builds them first
/// (`cargo build --bins`), as README.md says.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target directory");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --bins` before the tests", path.display());
    path
}

/// A running binary, killed when dropped.
pub struct Proc {
    child: Child,
    /// The address it printed (`... listening on ADDR`).
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `name` with `args` and waits for its "listening on" line.
    pub fn start(name: &str, args: &[&str]) -> Proc {
        Self::start_with_env(name, args, &[])
    }

    /// As `start`, with extra environment variables.
    pub fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = command(name)
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {} // keep draining so the child never blocks
        });
        let line = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("{name} did not report its address; log:\n{}", log.lock().unwrap()));
        let addr = line.rsplit(' ').next().expect("address").to_string();
        Proc { child, addr, log }
    }

    /// A coordinator on a free loopback port.
    pub fn coordinator(args: &[&str]) -> Proc {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::start("cluster-coordinator", &all)
    }

    /// A worker on a free loopback port.
    pub fn worker(args: &[&str]) -> Proc {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::start("cluster-worker", &all)
    }

    /// The URL of a coordinator.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `text`, or fails after the deadline.
    pub fn wait_log(&self, text: &str) {
        let until = Instant::now() + DEADLINE;
        while !self.log().contains(text) {
            assert!(Instant::now() < until, "no `{text}` in the log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal (SIGKILL, SIGSTOP, SIGTERM, ...).
    pub fn signal(&self, signal: i32) {
        signal_child(&self.child, signal);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now and at its peak, in bytes (Linux).
    pub fn rss(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("proc status");
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Waits for the process to exit and returns its status code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let until = Instant::now() + DEADLINE;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("process did not exit in time; log:\n{}", self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Starts a binary expected to fail at start-up; returns its exit code and
/// stderr.
pub fn run_to_exit(name: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = command(name).args(args).output().expect("run");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Starts `cluster-submit` without waiting for it (its output is dropped,
/// so a full pipe can never block it).
pub fn spawn_submit(args: &[&str]) -> Child {
    command("cluster-submit")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cluster-submit")
}

/// Sends a signal to a child process.
pub fn signal_child(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// Runs `cluster-submit` to completion and returns its output.
pub fn submit(args: &[&str]) -> Output {
    submit_with_env(args, &[])
}

/// As `submit`, with extra environment variables.
pub fn submit_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = command("cluster-submit")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cluster-submit");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let until = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("cluster-submit {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls the coordinator's status until `ready` holds, or fails after the
/// deadline with the last status seen.
pub async fn wait_status(url: &str, what: &str, ready: impl Fn(&StatusResponse) -> bool) -> StatusResponse {
    wait_status_as(url, &cluster_auth::Security::default(), what, ready).await
}

/// As `wait_status`, connecting with a secret and/or TLS.
pub async fn wait_status_as(
    url: &str,
    security: &cluster_auth::Security,
    what: &str,
    ready: impl Fn(&StatusResponse) -> bool,
) -> StatusResponse {
    let until = Instant::now() + DEADLINE;
    let mut client = loop {
        match Client::connect_with(url, security).await {
            Ok(client) => break client,
            Err(e) if Instant::now() > until => panic!("cannot reach {url}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    loop {
        let status = client.status().await.expect("status");
        if ready(&status) {
            return status;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}; last status: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Number of workers in the active state.
pub fn active_workers(status: &StatusResponse) -> usize {
    status.workers.iter().filter(|w| w.state == WorkerState::Active as i32).count()
}

/// Parses `--json` output into per-task lines and the final stats line.
pub fn json_lines(text: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    let stats = values.pop().expect("a stats line");
    assert!(stats.get("stats").is_some(), "last line is not stats: {stats}");
    (values, stats["stats"].clone())
}

/// Jobs per worker name from a stats object.
pub fn jobs_by_worker(stats: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    stats["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| (w["worker"].as_str().unwrap().to_string(), w["jobs"].as_u64().unwrap()))
        .collect()
}
