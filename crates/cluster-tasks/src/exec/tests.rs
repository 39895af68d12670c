use std::time::{Duration, Instant};

use super::*;
use crate::ErrorKind;

fn exec() -> Exec {
    Exec::new(Allow::Any).with_max_output_bytes(1 << 16)
}

fn input(argv: &[&str]) -> Input {
    let env = [("CLUSTER_WORKER".to_string(), "w1".to_string())].into();
    Input::Exec(Box::new(ExecInput {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env,
        ..ExecInput::default()
    }))
}

fn run(kind: &Exec, input: &Input) -> Result<ExecOutput, TaskError> {
    match kind.run(input, &CancelToken::new())? {
        Output::Exec(output) => Ok(*output),
        other => panic!("not an exec output: {other:?}"),
    }
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn arguments_pass_as_they_are_never_through_a_shell() {
    let tricky = "it's a $HOME; echo pwned `id` \"quoted\"";
    let out = run(&exec(), &input(&["printf", "%s|%s", tricky, "two words"])).unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, format!("{tricky}|two words").as_bytes());
    assert_eq!((out.stdout_truncated, out.stderr_truncated), (false, false));
}

#[test]
fn stdin_is_fed_and_the_environment_is_minimal_plus_what_was_asked() {
    let mut exec_input = ExecInput {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "cat; echo \"$CLUSTER_WORKER $EXTRA ${SECRETISH:-unset}\"".into(),
        ],
        stdin: Bytes::from_static(b"from stdin\n"),
        ..ExecInput::default()
    };
    exec_input.env.insert("EXTRA".into(), "x".into());
    exec_input.env.insert("CLUSTER_WORKER".into(), "w1".into());
    std::env::set_var("SECRETISH", "leaked");
    let out = run(&exec(), &Input::Exec(Box::new(exec_input))).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from stdin\nw1 x unset\n");
}

#[test]
fn a_failing_command_reports_its_status_and_stderr() {
    let out = run(&exec(), &input(&["sh", "-c", "echo oops >&2; exit 3"])).unwrap();
    assert_eq!((out.exit_code, out.signal), (Some(3), None));
    assert_eq!(out.stderr, "oops\n".as_bytes());
    assert_eq!(out.status(), "exit status 3");
    let out = run(&exec(), &input(&["sh", "-c", "kill -9 $$"])).unwrap();
    assert_eq!((out.exit_code, out.signal), (None, Some(9)));
}

#[test]
fn bad_commands_fail_alone_with_a_message_naming_what_was_wrong() {
    let err = run(&exec(), &input(&[])).unwrap_err();
    assert_eq!(err, TaskError::invalid_input("an exec task needs a command: its argv is empty"));
    let err = run(&exec(), &input(&["no-such-program-xyz"])).unwrap_err();
    assert_eq!(err, TaskError::failed("cannot run `no-such-program-xyz` on worker w1: not found"));
    let only = Exec::new(Allow::Only(vec!["echo".into(), "/bin/true".into()]));
    assert!(run(&only, &input(&["/bin/true"])).unwrap().success());
    let err = run(&only, &input(&["rm", "-rf", "/"])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(
        err.message,
        "program `rm` is not allowed on worker w1: its --allow-exec list is echo,/bin/true"
    );
    let err = exec().run(&Input::Noop, &CancelToken::new()).unwrap_err();
    assert_eq!(err.message, "exec needs an exec input, got a noop input");
}

#[test]
fn output_over_the_bound_is_cut_and_marked_and_the_program_is_not_blocked() {
    // 1 MiB through a 64 KiB bound: the rest is read and dropped.
    let out = run(&exec(), &input(&["head", "-c", "1048576", "/dev/zero"])).unwrap();
    assert!(out.success());
    assert_eq!(out.stdout.len(), 1 << 16);
    assert!(out.stdout_truncated && !out.stderr_truncated);
}

#[test]
fn each_command_gets_a_fresh_empty_directory_removed_afterwards_unless_one_is_given() {
    // Each prints its directory and what is in it, then leaves a file there.
    let litter = || input(&["sh", "-c", "pwd; ls -A; touch litter"]);
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let out = String::from_utf8(run(&exec(), &litter()).unwrap().stdout.to_vec()).unwrap();
        assert_eq!(out.lines().count(), 1, "the directory was not empty: {out}");
        let dir = out.lines().next().unwrap().to_owned();
        assert!(dir.contains("cluster-exec-"), "{out}");
        assert!(!std::path::Path::new(&dir).exists(), "{dir} was left behind");
        dirs.push(dir);
    }
    assert_ne!(dirs[0], dirs[1]);
    let given = tempfile::tempdir().unwrap();
    let exec_input = ExecInput {
        argv: vec!["pwd".into()],
        working_dir: Some(given.path().to_owned()),
        ..ExecInput::default()
    };
    let out = run(&exec(), &Input::Exec(Box::new(exec_input))).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        given.path().canonicalize().unwrap().to_str().unwrap()
    );
    assert!(given.path().exists());
}

#[test]
fn a_timeout_kills_the_command_and_everything_it_started() {
    let marker = format!("{}.{}", 600 + std::process::id() % 100, std::process::id());
    let script = format!("sleep {marker} & sleep {marker}");
    let token = CancelToken::with_deadline(Instant::now() + Duration::from_millis(300));
    let err = exec().run(&input(&["sh", "-c", &script]), &token).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert!(processes_with(&format!("sleep {marker}")).is_empty(), "{:?}", processes_with(&marker));
}

#[test]
fn what_a_finished_command_left_running_is_killed_with_it() {
    let marker = format!("{}.{}", 700 + std::process::id() % 100, std::process::id());
    // The background sleep keeps stdout open: without the group kill the
    // task would wait for it.
    let script = format!("sleep {marker} & echo started");
    let out = run(&exec(), &input(&["sh", "-c", &script])).unwrap();
    assert_eq!(out.stdout, "started\n".as_bytes());
    assert!(processes_with(&format!("sleep {marker}")).is_empty());
}
