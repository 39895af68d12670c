//! The real binaries as child processes: started on 127.0.0.1 port 0, their
//! address read from their first stdout line, killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use cluster_client::Client;
use cluster_proto::{StatusResponse, WorkerState};

use crate::figures::Plan;

/// How long a process may take to print its address, or a cluster to become
/// ready.
pub(crate) const STARTUP: Duration = Duration::from_secs(30);

/// Path of a workspace binary: next to this executable.
pub(crate) fn sibling_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("path of cluster-bench")?;
    let dir = exe.parent().ok_or_else(|| anyhow!("{} has no parent directory", exe.display()))?;
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build the binaries first (`cargo build --release --bins`, \
             or `cargo build --bins` for a debug cluster-bench)",
            path.display()
        );
    }
    Ok(path)
}

/// A running child process, killed when dropped.
pub(crate) struct Proc {
    name: &'static str,
    child: Child,
    /// The address it printed.
    pub(crate) addr: String,
    log: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `name --listen 127.0.0.1:0 ARGS` and waits for its
    /// `NAME listening on ADDR` line.
    pub(crate) fn start(name: &'static str, args: &[impl AsRef<std::ffi::OsStr>]) -> Result<Proc> {
        let mut command = Command::new(sibling_bin(name)?);
        // Only the flags given here count: no CLUSTER_* setting (secret,
        // prefetch, queue limit, ...) leaks in from the environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CLUSTER_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {} // keep draining so the child never blocks on stdout
        });
        let mut proc = Proc { name, child, addr: String::new(), log };
        let prefix = format!("{name} listening on ");
        match rx.recv_timeout(STARTUP) {
            Ok(Some(Ok(line))) if line.starts_with(&prefix) => {
                proc.addr = line[prefix.len()..].trim().to_string();
                Ok(proc)
            }
            Ok(Some(Ok(line))) => bail!("{name} printed `{line}`, not its address; log:\n{}", proc.log()),
            Ok(_) => bail!("{name} exited before printing its address; log:\n{}", proc.log()),
            Err(_) => bail!("{name} did not print its address within {STARTUP:?}; log:\n{}", proc.log()),
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL of a coordinator.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it logged on stderr so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// An error if the process has exited.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!("{} exited ({status}); log:\n{}", self.name, self.log()),
            Err(e) => bail!("cannot wait on {}: {e}", self.name),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A coordinator and its workers, all separate processes.
pub(crate) struct Cluster {
    /// The coordinator.
    pub(crate) coordinator: Proc,
    /// The workers, in the order given.
    pub(crate) workers: Vec<Proc>,
}

impl Cluster {
    /// Starts `workers` workers of `cpus` cores and a coordinator that dials
    /// them, and waits until the coordinator sees them all active.
    /// `plan`'s extra flags go to every process.
    pub(crate) async fn start(plan: &Plan, workers: usize, cpus: u32) -> Result<Cluster> {
        let mut args = vec!["--cpus".to_string(), cpus.to_string()];
        args.extend(plan.worker_args.iter().cloned());
        let workers =
            (0..workers).map(|_| Proc::start("cluster-worker", &args)).collect::<Result<Vec<_>>>()?;
        let mut args = Vec::new();
        for worker in &workers {
            args.extend(["--worker".to_string(), worker.addr.clone()]);
        }
        args.extend(plan.coordinator_args.iter().cloned());
        let coordinator = Proc::start("cluster-coordinator", &args)?;
        let mut cluster = Cluster { coordinator, workers };
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    /// The coordinator's URL.
    pub(crate) fn url(&self) -> String {
        self.coordinator.url()
    }

    /// A client connected to the coordinator.
    pub(crate) async fn client(&self) -> Result<Client> {
        connect(&self.url()).await
    }

    /// Polls status until every worker is active.
    async fn wait_ready(&mut self) -> Result<()> {
        let want = self.workers.len();
        let mut client = self.client().await?;
        let until = Instant::now() + STARTUP;
        loop {
            let status = client.status().await.context("status")?;
            if active_workers(&status) == want {
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() > until {
                bail!("{want} workers not active within {STARTUP:?}; last status: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// An error if any process has exited.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        self.coordinator.check_alive()?;
        self.workers.iter_mut().try_for_each(Proc::check_alive)
    }
}

/// Connects to a coordinator, retrying until [`STARTUP`] runs out.
pub(crate) async fn connect(url: &str) -> Result<Client> {
    let until = Instant::now() + STARTUP;
    loop {
        match Client::connect(url).await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() > until => return Err(e).context("connecting to the coordinator"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Workers the coordinator reports as active.
pub(crate) fn active_workers(status: &StatusResponse) -> usize {
    status.workers.iter().filter(|w| w.state == WorkerState::Active as i32).count()
}

/// A `VmXXX:` figure of /proc/PID/status, in bytes.
pub(crate) fn proc_status_bytes(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| anyhow!("{path} has no {field}"))?;
    let kb: u64 = line
        .trim()
        .strip_suffix("kB")
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| anyhow!("cannot read {field} `{line}` in {path}"))?;
    Ok(kb * 1024)
}
