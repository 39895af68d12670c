//! The `exec` kind: runs a program, as a worker started with
//! `--allow-exec` allows.
//!
//! The program runs directly (never through a shell unless its argv names
//! one), as the leader of its own process group, in a fresh temporary
//! directory removed afterwards, with a minimal environment. When it exits,
//! when it is cancelled or when it runs out of time, the whole group is
//! killed, so nothing it started outlives the task. Its output is captured
//! up to a bound per stream; the rest is read and dropped, so a chatty
//! program never blocks on a full pipe.

use std::collections::BTreeMap;
use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;

use crate::{CancelToken, Input, Output, TaskError, TaskKind};

/// Bytes of stdout, and of stderr, kept by default.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// The input of an `exec` task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecInput {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Written to its standard input, which is then closed.
    pub stdin: Bytes,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Where to run it instead of a fresh temporary directory.
    pub working_dir: Option<PathBuf>,
    /// Bytes of each stream kept; 0: the worker's default.
    pub max_output_bytes: u64,
}

/// How an `exec` task's program ended and what it printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Its exit status, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Its standard output, up to the bound.
    pub stdout: Bytes,
    /// Its standard error, up to the bound.
    pub stderr: Bytes,
    /// Whether stdout was cut at the bound.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the bound.
    pub stderr_truncated: bool,
}

impl ExecOutput {
    /// Whether the program exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// "exit status 3" or "killed by signal 9".
    pub fn status(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "an unknown status".into(),
        }
    }
}

/// Which programs a worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Any program.
    Any,
    /// Only these, each matched exactly against argv[0]: a bare name (looked
    /// up in PATH) or an absolute path.
    Only(Vec<String>),
}

/// The `exec` kind, with the worker's settings. The worker adds
/// `CLUSTER_WORKER`, `CLUSTER_JOB_ID` and `CLUSTER_TASK_INDEX` to each
/// input's environment; messages name the worker by the first.
#[derive(Debug, Clone)]
pub struct Exec {
    allow: Allow,
    env: Vec<(String, String)>,
    max_output_bytes: u64,
}

impl Exec {
    /// Runs the programs `allow` lets through.
    pub fn new(allow: Allow) -> Self {
        Self { allow, env: Vec::new(), max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES }
    }

    /// Adds these variables to every command's environment.
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = env;
        self
    }

    /// Keeps at most `bytes` of each stream unless a task asks for less.
    pub fn with_max_output_bytes(mut self, bytes: u64) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    fn check_allowed(&self, program: &str, worker: &str) -> Result<(), TaskError> {
        match &self.allow {
            Allow::Any => Ok(()),
            Allow::Only(list) if list.iter().any(|allowed| allowed == program) => Ok(()),
            Allow::Only(list) => Err(TaskError::invalid_input(format!(
                "program `{program}` is not allowed on worker {worker}: its --allow-exec list is {}",
                list.join(",")
            ))),
        }
    }

    fn command(&self, input: &ExecInput, dir: &std::path::Path) -> Command {
        let mut command = Command::new(&input.argv[0]);
        command.args(&input.argv[1..]).env_clear();
        for name in ["PATH", "HOME", "LANG", "TZ"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        if std::env::var_os("PATH").is_none() {
            command.env("PATH", "/usr/local/bin:/usr/bin:/bin");
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v))).envs(&input.env);
        let stdin = if input.stdin.is_empty() { Stdio::null() } else { Stdio::piped() };
        command.current_dir(dir).stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own group: one signal reaches everything it starts.
        command.process_group(0);
        command
    }
}

impl TaskKind for Exec {
    fn run(&self, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError> {
        let Input::Exec(input) = input else {
            return Err(TaskError::invalid_input(format!(
                "exec needs an exec input, got {}",
                input.describe()
            )));
        };
        let Some(program) = input.argv.first().filter(|p| !p.is_empty()) else {
            return Err(TaskError::invalid_input("an exec task needs a command: its argv is empty"));
        };
        let worker = input.env.get("CLUSTER_WORKER").map_or("(unnamed)", String::as_str);
        self.check_allowed(program, worker)?;
        let temp;
        let dir = match &input.working_dir {
            Some(dir) => dir.as_path(),
            None => {
                temp = tempfile::Builder::new().prefix("cluster-exec-").tempdir().map_err(|e| {
                    TaskError::failed(format!("cannot make a directory for the command: {e}"))
                })?;
                temp.path()
            }
        };
        let mut child = self.command(input, dir).spawn().map_err(|e| {
            let why = if e.kind() == IoErrorKind::NotFound { "not found".to_string() } else { e.to_string() };
            TaskError::failed(format!("cannot run `{program}` on worker {worker}: {why}"))
        })?;
        let limit = match input.max_output_bytes {
            0 => self.max_output_bytes,
            asked => asked.min(self.max_output_bytes),
        } as usize;
        let group = Group(child.id() as i32);
        let result = std::thread::scope(|scope| {
            if let Some(mut stdin) = child.stdin.take() {
                let data = &input.stdin;
                // A program that does not read its input closes the pipe.
                scope.spawn(move || stdin.write_all(data));
            }
            supervise(&mut child, &group, limit, cancel)
        });
        group.kill();
        let (status, stdout, stderr) = result?;
        if cancel.is_cancelled() && status.code().is_none() {
            return Err(TaskError {
                kind: crate::ErrorKind::Cancelled,
                message: "stopped while running".into(),
            });
        }
        Ok(Output::Exec(Box::new(ExecOutput {
            exit_code: status.code(),
            signal: status.signal(),
            stdout: stdout.bytes.into(),
            stderr: stderr.bytes.into(),
            stdout_truncated: stdout.truncated,
            stderr_truncated: stderr.truncated,
        })))
    }
}

/// A process group, killed as a whole.
struct Group(i32);

impl Group {
    fn kill(&self) {
        // SAFETY: kill(2) with a negative pid signals the process group;
        // it touches no memory of ours. ESRCH (already gone) is fine.
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
        }
    }
}

/// One captured stream.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
    done: bool,
}

impl Captured {
    /// Reads what is there, keeping up to `limit` bytes in all; marks the
    /// stream done at end of file.
    fn read_from(&mut self, pipe: &mut impl Read, limit: usize) {
        let mut buffer = [0u8; 16 * 1024];
        match pipe.read(&mut buffer) {
            Ok(0) => self.done = true,
            Ok(n) => {
                let room = limit.saturating_sub(self.bytes.len());
                self.bytes.extend_from_slice(&buffer[..n.min(room)]);
                self.truncated |= n > room;
            }
            Err(e) if e.kind() == IoErrorKind::Interrupted => {}
            Err(_) => self.done = true,
        }
    }
}

/// How often a running command's cancel token is checked.
const CANCEL_POLL_MS: i32 = 10;

/// Reads the child's output until it exits and its pipes close, killing
/// its group when it exits (so no descendant keeps the pipes open) or
/// when `cancel` fires. One thread, one `poll(2)` loop.
fn supervise(
    child: &mut Child,
    group: &Group,
    limit: usize,
    cancel: &CancelToken,
) -> Result<(std::process::ExitStatus, Captured, Captured), TaskError> {
    let mut stdout_pipe = child.stdout.take().expect("stdout is piped");
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let (mut stdout, mut stderr) = (Captured::default(), Captured::default());
    let mut status = None;
    // The child's exit wakes poll(2) through a pidfd: its pipes close a
    // moment before it can be reaped. Without one (Linux before 5.3), once
    // both pipes are closed poll(2) has nothing to wait on, so sleep
    // briefly, then longer.
    let exited = pidfd(child.id());
    let exited_fd = exited.as_ref().map_or(-1, |fd| fd.as_raw_fd());
    let mut pause = std::time::Duration::from_micros(20);
    while status.is_none() || !stdout.done || !stderr.done {
        let nothing_to_wait_on = stdout.done && stderr.done && exited.is_none();
        if nothing_to_wait_on {
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(CANCEL_POLL_MS as u64));
        }
        let mut fds = [
            pollfd(stdout_pipe.as_raw_fd(), stdout.done),
            pollfd(stderr_pipe.as_raw_fd(), stderr.done),
            pollfd(exited_fd, status.is_some()),
        ];
        // SAFETY: `fds` is a valid array of pollfd for its length.
        let timeout = if nothing_to_wait_on { 0 } else { CANCEL_POLL_MS };
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if ready > 0 {
            if fds[0].revents != 0 {
                stdout.read_from(&mut stdout_pipe, limit);
            }
            if fds[1].revents != 0 {
                stderr.read_from(&mut stderr_pipe, limit);
            }
        }
        if status.is_none() {
            if cancel.is_cancelled() {
                group.kill();
            }
            status = child
                .try_wait()
                .map_err(|e| TaskError::failed(format!("cannot wait for the command: {e}")))?;
            if status.is_some() {
                // The leader is gone: whatever it left behind goes too.
                group.kill();
            }
        }
    }
    Ok((status.expect("the loop ends once the child has exited"), stdout, stderr))
}

/// A descriptor that becomes readable when our child `pid` exits; `None`
/// where the kernel has no pidfd_open(2).
fn pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a descriptor nobody else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pollfd(fd: i32, done: bool) -> libc::pollfd {
    // A negative fd is ignored by poll(2).
    libc::pollfd { fd: if done { -1 } else { fd }, events: libc::POLLIN, revents: 0 }
}

#[cfg(test)]
mod tests;
