//! The slot pool on its own: what comes back when tasks are revoked,
//! cancelled, drained or stopped, and a panicking task. Tasks here are
//! gates that report their start and hold their slot until opened or
//! cancelled; the tests wait on channels with deadlines, never sleep.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cluster_proto::{completion, task, Completion, ErrorCode, Task};
use cluster_tasks::{CancelToken, ErrorKind, Input, Output, Registry, TaskError, TaskKind};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::{cancelled, Executor, Job};

const DEADLINE: Duration = Duration::from_secs(10);
const SESSION: u64 = 1;
const OTHER: u64 = 2;

/// A task that reports its key when it starts, then holds its slot until
/// the gate opens (it succeeds) or its token is cancelled (it fails
/// CANCELLED), like a long-running kind polling its token.
struct Gate {
    started: UnboundedSender<u64>,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// The `gate` kind of a [`Gate`].
struct GateKind(Arc<Gate>);

impl TaskKind for GateKind {
    fn run(&self, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError> {
        let Input::Custom(key) = input else { panic!("a gate task carries its key") };
        let gate = &self.0;
        let _ = gate.started.send(u64::from_le_bytes(key[..].try_into().unwrap()));
        let mut open = gate.open.lock().unwrap();
        while !*open {
            if cancel.is_cancelled() {
                return Err(TaskError {
                    kind: ErrorKind::Cancelled,
                    message: "cancelled while running".into(),
                });
            }
            open = gate.opened.wait_timeout(open, Duration::from_millis(1)).unwrap().0;
        }
        Ok(Output::Custom(key.clone()))
    }
}

/// A task that panics.
struct Boom;

impl TaskKind for Boom {
    fn run(&self, _: &Input, _: &CancelToken) -> Result<Output, TaskError> {
        panic!("boom")
    }
}

/// An executor of `cores` slots knowing `gate`, `boom` and the built-ins,
/// the gate, where tasks report their start, and where results arrive.
struct Rig {
    executor: Executor,
    gate: Arc<Gate>,
    started: UnboundedReceiver<u64>,
    reply: UnboundedSender<Completion>,
    done: UnboundedReceiver<Completion>,
}

impl Rig {
    fn new(cores: u32) -> Rig {
        let (started_tx, started) = mpsc::unbounded_channel();
        let gate = Arc::new(Gate { started: started_tx, open: Mutex::new(false), opened: Condvar::new() });
        let registry = Registry::builtin().with("gate", GateKind(gate.clone())).with("boom", Boom);
        let executor = Executor::new(cores, registry, 1 << 20).expect("slot threads");
        let (reply, done) = mpsc::unbounded_channel();
        Rig { executor, gate, started, reply, done }
    }

    fn job(&self, session: u64, key: u64, kind: &str) -> Job {
        let input = match kind {
            "gate" => Some(task::Input::Custom(key.to_le_bytes().to_vec().into())),
            _ => Some(task::Input::Noop(Default::default())),
        };
        Job {
            key,
            session,
            task: Task { id: key, kind: kind.into(), input },
            context: Default::default(),
            timeout: None,
            reply: self.reply.clone(),
        }
    }

    /// Queues gate tasks with these keys in `session`.
    fn gates(&self, session: u64, keys: &[u64]) {
        self.executor.enqueue(keys.iter().map(|&key| self.job(session, key, "gate")));
    }

    async fn started(&mut self) -> u64 {
        tokio::time::timeout(DEADLINE, self.started.recv()).await.expect("a task to start").unwrap()
    }

    async fn completion(&mut self) -> Completion {
        tokio::time::timeout(DEADLINE, self.done.recv()).await.expect("a completion").unwrap()
    }

    /// No completion is waiting.
    fn no_completion(&mut self) {
        assert!(self.done.try_recv().is_err(), "an unexpected completion");
    }
}

fn outcome(completion: &Completion) -> &completion::Outcome {
    completion.outcome.as_ref().expect("an outcome")
}

fn error(completion: &Completion) -> (ErrorCode, &str) {
    match outcome(completion) {
        completion::Outcome::Error(e) => (ErrorCode::try_from(e.code).unwrap(), e.message.as_str()),
        other => panic!("key {} should have failed: {other:?}", completion.key),
    }
}

fn succeeded(completion: &Completion) -> bool {
    matches!(outcome(completion), completion::Outcome::Output(_))
}

#[tokio::test]
async fn revoke_returns_unstarted_tasks_and_leaves_started_ones() {
    let mut rig = Rig::new(1);
    rig.gates(SESSION, &[1, 2, 3]);
    assert_eq!(rig.started().await, 1);
    assert_eq!(rig.executor.revoke(OTHER, &[1, 2, 3]), Vec::<u64>::new(), "another session's keys");
    assert_eq!(rig.executor.revoke(SESSION, &[1, 2, 3]), vec![2, 3]);
    assert_eq!(rig.executor.busy(), 1, "the started task still runs");
    rig.gate.open();
    let done = rig.completion().await;
    assert_eq!(done.key, 1);
    assert!(succeeded(&done));
    assert_eq!(rig.executor.busy(), 0);
    rig.no_completion();
}

#[tokio::test]
async fn cancel_removes_unstarted_tasks_and_stops_running_ones() {
    let mut rig = Rig::new(1);
    rig.gates(SESSION, &[1, 2, 3]);
    assert_eq!(rig.started().await, 1);
    let removed = rig.executor.cancel(SESSION, &[1, 2]);
    assert_eq!(removed.iter().map(|j| j.key).collect::<Vec<_>>(), vec![2]);
    assert_eq!(error(&cancelled(&removed[0])), (ErrorCode::Cancelled, "cancelled before it started"));
    let done = rig.completion().await;
    assert_eq!((done.key, error(&done)), (1, (ErrorCode::Cancelled, "cancelled while running")));
    // Task 3 was not cancelled: it takes the slot next.
    assert_eq!(rig.started().await, 3);
    rig.gate.open();
    let done = rig.completion().await;
    assert!(done.key == 3 && succeeded(&done));
    rig.no_completion();
}

#[tokio::test]
async fn take_session_hands_back_that_sessions_unstarted_tasks() {
    let mut rig = Rig::new(1);
    rig.gates(SESSION, &[1, 2]);
    rig.gates(OTHER, &[3]);
    rig.gates(SESSION, &[4]);
    assert_eq!(rig.started().await, 1);
    let taken = rig.executor.take_session(SESSION);
    assert_eq!(taken.iter().map(|j| j.key).collect::<Vec<_>>(), vec![2, 4]);
    rig.gate.open();
    let first = rig.completion().await;
    let second = rig.completion().await;
    assert_eq!((first.key, second.key), (1, 3), "the running task and the other session's task run");
    assert!(succeeded(&first) && succeeded(&second));
    assert_eq!(rig.executor.busy(), 0);
    rig.no_completion();
}

#[tokio::test]
async fn stop_running_stops_every_running_task() {
    let mut rig = Rig::new(2);
    rig.gates(SESSION, &[1]);
    rig.gates(OTHER, &[2]);
    let mut started = [rig.started().await, rig.started().await];
    started.sort();
    assert_eq!(started, [1, 2]);
    rig.executor.stop_running();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let done = rig.completion().await;
        assert_eq!(error(&done), (ErrorCode::Cancelled, "cancelled while running"));
        keys.push(done.key);
    }
    keys.sort();
    assert_eq!(keys, [1, 2]);
    assert_eq!(rig.executor.busy(), 0);
}

#[tokio::test]
async fn a_panicking_task_fails_alone_and_its_slot_lives_on() {
    let mut rig = Rig::new(1);
    rig.executor.enqueue([rig.job(SESSION, 1, "boom"), rig.job(SESSION, 2, "noop")]);
    let first = rig.completion().await;
    assert_eq!((first.key, error(&first)), (1, (ErrorCode::TaskFailed, "task `boom` panicked: boom")));
    let second = rig.completion().await;
    assert!(second.key == 2 && succeeded(&second), "{second:?}");
}
