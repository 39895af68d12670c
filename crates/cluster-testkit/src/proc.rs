//! Workspace binaries as child processes: started with port 0, ready when
//! they print `NAME listening on ADDR` on stdout, stderr captured, killed
//! when dropped.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use cluster_auth::Security;
use cluster_client::Client;

use crate::wait::{active_workers, connect, wait_status};
use crate::DEADLINE;

/// How long `cluster-submit` may take in [`submit`].
const SUBMIT_DEADLINE: Duration = Duration::from_secs(120);

/// Between two checks of a process's state.
const POLL: Duration = Duration::from_millis(5);

/// Path of a workspace binary, built next to the running executable (a
/// binary in `target/<profile>/`, or a test in `target/<profile>/deps/`).
pub fn bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("path of the running executable")?;
    let dir = exe.parent().ok_or_else(|| anyhow!("{} has no directory", exe.display()))?;
    let candidates = [dir.join(name), dir.parent().unwrap_or(dir).join(name)];
    candidates.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
        anyhow!(
            "{} is missing: build the binaries first (`cargo build --workspace --bins`, \
             or `--release` for a release run)",
            candidates[0].display()
        )
    })
}

/// A signal to send to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM: drain or shut down.
    Term,
    /// SIGKILL: gone at once.
    Kill,
    /// SIGSTOP: frozen.
    Stop,
    /// SIGCONT: resumed after a SIGSTOP.
    Cont,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
        }
    }
}

/// A command for a binary that inherits none of the caller's `CLUSTER_*`
/// variables (a secret in the developer's shell must not change a test),
/// logs at `info` unless told otherwise.
pub struct Cmd {
    name: String,
    command: Command,
}

impl Cmd {
    /// A workspace binary (see [`bin`]).
    pub fn new(name: &str) -> Result<Cmd> {
        Ok(Cmd::at(bin(name)?))
    }

    /// The binary at `path`; its file name is its name.
    pub fn at(path: impl AsRef<Path>) -> Cmd {
        let path = path.as_ref();
        let name = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned();
        let mut command = Command::new(path);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CLUSTER_") {
                command.env_remove(key);
            }
        }
        command.env("RUST_LOG", "info").stdin(Stdio::null());
        Cmd { name, command }
    }

    /// Adds arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Cmd {
        self.command.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.command.env(key, value);
        self
    }

    /// Starts the process with this soft limit on open files (its hard
    /// limit unchanged), as a login shell often sets it.
    pub fn soft_open_files(self, soft: u64) -> Cmd {
        self.open_files(soft, false)
    }

    /// Starts the process with this hard (and soft) limit on open files:
    /// it cannot raise it, so it runs out of descriptors early.
    pub fn hard_open_files(self, hard: u64) -> Cmd {
        self.open_files(hard, true)
    }

    fn open_files(mut self, soft: u64, hard_too: bool) -> Cmd {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls getrlimit and setrlimit, which are async-signal-safe.
        unsafe {
            self.command.pre_exec(move || {
                let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                limit.rlim_cur = soft.min(limit.rlim_max);
                if hard_too {
                    limit.rlim_max = limit.rlim_cur;
                }
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self
    }

    /// Starts the process without waiting for anything.
    pub fn spawn(mut self) -> Result<Proc> {
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", self.name))?;
        let (log, err_reader) = capture(child.stderr.take().expect("piped stderr"), None);
        let (first_tx, first) = mpsc::channel();
        let (out, out_reader) = capture(child.stdout.take().expect("piped stdout"), Some(first_tx));
        Ok(Proc {
            name: self.name,
            child,
            addr: None,
            out,
            log,
            first,
            readers: vec![out_reader, err_reader],
        })
    }

    /// Starts a server and waits (up to [`DEADLINE`]) for its
    /// `NAME listening on ADDR` line.
    pub fn start(self) -> Result<Proc> {
        let mut proc = self.spawn()?;
        let prefix = format!("{} listening on ", proc.name);
        match proc.first.recv_timeout(DEADLINE) {
            Ok(line) if line.starts_with(&prefix) => {
                proc.addr = Some(line[prefix.len()..].trim().to_string());
                Ok(proc)
            }
            Ok(line) => bail!("{} printed `{line}`, not its address; log:\n{}", proc.name, proc.log()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("{} exited before printing its address; log:\n{}", proc.name, proc.log())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("{} did not print its address within {DEADLINE:?}; log:\n{}", proc.name, proc.log())
            }
        }
    }

    /// Runs the command to its exit, which must come within `within`, and
    /// returns its status and output.
    pub fn output(self, within: Duration) -> Result<Output> {
        self.spawn()?.into_output(within)
    }
}

/// Reads `from` line by line into a shared buffer; the first line also goes
/// to `first`.
fn capture(
    from: impl Read + Send + 'static,
    first: Option<mpsc::Sender<String>>,
) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = buffer.clone();
    let reader = std::thread::spawn(move || {
        let mut first = first;
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if let Some(first) = first.take() {
                let _ = first.send(line.clone());
            }
            let mut buffer = sink.lock().unwrap_or_else(|e| e.into_inner());
            buffer.push_str(&line);
            buffer.push('\n');
        }
    });
    (buffer, reader)
}

/// A running binary, killed when dropped.
pub struct Proc {
    name: String,
    child: Child,
    addr: Option<String>,
    out: Arc<Mutex<String>>,
    log: Arc<Mutex<String>>,
    first: mpsc::Receiver<String>,
    readers: Vec<JoinHandle<()>>,
}

impl Proc {
    /// `cluster-worker --listen 127.0.0.1:0 ARGS`, ready.
    pub fn worker(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Result<Proc> {
        Cmd::new("cluster-worker")?.args(["--listen", "127.0.0.1:0"]).args(args).start()
    }

    /// `cluster-coordinator --listen 127.0.0.1:0 ARGS`, ready.
    pub fn coordinator(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Result<Proc> {
        Cmd::new("cluster-coordinator")?.args(["--listen", "127.0.0.1:0"]).args(args).start()
    }

    /// The address it printed.
    pub fn addr(&self) -> &str {
        self.addr.as_deref().unwrap_or_else(|| panic!("{} was not started as a server", self.name))
    }

    /// Its `http://` URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// A client of it, with no secret and no TLS (it is a coordinator).
    pub async fn client(&self) -> Result<Client> {
        connect(&self.url(), &Security::default()).await
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stdout so far.
    pub fn out(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What it wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Asserts that its log comes to contain `text` within [`DEADLINE`]:
    /// for tests of what a binary logs, never to synchronise with it.
    pub fn wait_log(&self, text: &str) {
        let until = Instant::now() + DEADLINE;
        while !self.log().contains(text) {
            assert!(Instant::now() < until, "{}: no `{text}` in the log:\n{}", self.name, self.log());
            std::thread::sleep(POLL);
        }
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal.number());
        }
    }

    /// Resident memory now and at its peak (`VmRSS`, `VmHWM`), in bytes.
    pub fn rss(&self) -> Result<(u64, u64)> {
        let path = format!("/proc/{}/status", self.pid());
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> Result<u64> {
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .ok_or_else(|| anyhow!("{path} has no {name}"))?;
            let kb: u64 = line
                .trim()
                .strip_suffix("kB")
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(|| anyhow!("cannot read {name} `{line}` in {path}"))?;
            Ok(kb * 1024)
        };
        Ok((field("VmRSS")?, field("VmHWM")?))
    }

    /// An error, with its log, if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!("{} exited ({status}); log:\n{}", self.name, self.log()),
            Err(e) => bail!("cannot wait on {}: {e}", self.name),
        }
    }

    /// Waits for it to exit; fails (and kills it) if it is still running
    /// after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus> {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                // Its last lines may still be in the pipes: read to the end.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Ok(status);
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                bail!("{} did not exit within {within:?}; log:\n{}", self.name, self.log());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits for it to exit (see [`Proc::wait_exit`]) and returns its
    /// status with everything it wrote.
    pub fn into_output(mut self, within: Duration) -> Result<Output> {
        let status = self.wait_exit(within)?;
        let take = |b: &Arc<Mutex<String>>| std::mem::take(&mut *b.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(Output { status, stdout: take(&self.out).into_bytes(), stderr: take(&self.log).into_bytes() })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cluster-submit ARGS` to its exit (within two minutes).
pub fn submit(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Result<Output> {
    Cmd::new("cluster-submit")?.args(args).output(SUBMIT_DEADLINE)
}

/// A coordinator and its workers, all processes.
pub struct ProcCluster {
    /// The coordinator, dialing every worker.
    pub coordinator: Proc,
    /// The workers, in the order given.
    pub workers: Vec<Proc>,
    /// With [`ProcCluster::start_unix`]: the coordinator's Unix socket.
    unix: Option<PathBuf>,
}

impl ProcCluster {
    /// Starts one worker per entry of `workers` (its flags), then a
    /// coordinator with `--worker` for each and `coordinator` flags, and
    /// waits until it sees every worker active.
    pub async fn start<S: AsRef<OsStr>>(workers: &[Vec<S>], coordinator: &[S]) -> Result<ProcCluster> {
        let workers = workers.iter().map(Proc::worker).collect::<Result<Vec<_>>>()?;
        let mut args: Vec<&OsStr> = Vec::new();
        for worker in &workers {
            args.extend([OsStr::new("--worker"), OsStr::new(worker.addr())]);
        }
        args.extend(coordinator.iter().map(AsRef::as_ref));
        let coordinator = Proc::coordinator(args)?;
        ProcCluster { coordinator, workers, unix: None }.ready().await
    }

    /// [`ProcCluster::start`] with every connection on a Unix socket in
    /// `dir`: the coordinator dials each worker's `--listen-unix` socket,
    /// and [`ProcCluster::url`] is the coordinator's (`unix:PATH`).
    pub async fn start_unix<S: AsRef<OsStr>>(
        dir: &Path,
        workers: &[Vec<S>],
        coordinator: &[S],
    ) -> Result<ProcCluster> {
        let mut args: Vec<OsString> = Vec::new();
        let mut started = Vec::new();
        for (i, flags) in workers.iter().enumerate() {
            let socket = dir.join(format!("worker-{i}.sock"));
            let mut flags: Vec<OsString> = flags.iter().map(|f| f.as_ref().to_owned()).collect();
            flags.extend(["--listen-unix".into(), socket.clone().into_os_string()]);
            started.push(Proc::worker(flags)?);
            args.extend(["--worker".into(), format!("unix:{}", socket.display()).into()]);
        }
        let socket = dir.join("coordinator.sock");
        args.extend(["--listen-unix".into(), socket.clone().into_os_string()]);
        args.extend(coordinator.iter().map(|f| f.as_ref().to_owned()));
        let coordinator = Proc::coordinator(args)?;
        ProcCluster { coordinator, workers: started, unix: Some(socket) }.ready().await
    }

    /// Waits until the coordinator sees every worker active.
    async fn ready(mut self) -> Result<ProcCluster> {
        let want = self.workers.len();
        let mut client = self.client().await?;
        let until = Instant::now() + DEADLINE;
        loop {
            let status = client.status().await?;
            if active_workers(&status) == want {
                return Ok(self);
            }
            self.check_alive()?;
            if Instant::now() > until {
                bail!("{want} workers not active within {DEADLINE:?}; last status: {status:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The coordinator's URL (`unix:PATH` for [`ProcCluster::start_unix`]).
    pub fn url(&self) -> String {
        match &self.unix {
            Some(socket) => format!("unix:{}", socket.display()),
            None => self.coordinator.url(),
        }
    }

    /// A new client of the coordinator.
    pub async fn client(&self) -> Result<Client> {
        connect(&self.url(), &Security::default()).await
    }

    /// Polls status until `ready` holds (see [`wait_status`]).
    pub async fn wait_status(
        &self,
        what: &str,
        ready: impl Fn(&cluster_proto::StatusResponse) -> bool,
    ) -> Result<cluster_proto::StatusResponse> {
        wait_status(&mut self.client().await?, what, ready).await
    }

    /// An error if any of its processes has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        self.coordinator.check_alive()?;
        self.workers.iter_mut().try_for_each(Proc::check_alive)
    }
}
