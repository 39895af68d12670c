//! One machine over Unix sockets: workers that serve `--listen-unix`, a
//! coordinator that dials them as `unix:PATH` and serves its clients on its
//! own socket, and what happens to the socket file when something else is
//! there already. Real binaries; each test has its own directory.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use anyhow::Result;
use cluster_auth::test_util::generate;
use cluster_testkit::{stderr, stdout, temp_dir, Cmd, Proc, Signal, DEADLINE};

fn unix(path: &Path) -> String {
    format!("unix:{}", path.display())
}

fn worker_on(socket: &Path) -> Result<Proc> {
    Proc::worker(["--cpus".as_ref(), "1".as_ref(), "--listen-unix".as_ref(), socket.as_os_str()])
}

/// Starts a worker on `path` and checks it stops at once, saying `why`.
fn refused_at(path: &Path, why: &str) -> Result<()> {
    let refused = Cmd::new("cluster-worker")?
        .args(["--listen", "127.0.0.1:0", "--listen-unix"])
        .args([path])
        .output(DEADLINE)?;
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains(&format!("cannot listen on {}: {why}", unix(path))), "{err}");
    Ok(())
}

/// The first lines of the seed's sum_primes run, for these inputs.
const SUMS: [&str; 4] = [
    "Sum of primes below 100000 is 454396537",
    "Sum of primes below 100100 is 454996777",
    "Sum of primes below 100200 is 455898156",
    "Sum of primes below 100300 is 456700218",
];

#[test]
fn a_batch_runs_over_unix_sockets_end_to_end_on_both_workers() -> Result<()> {
    let dir = temp_dir("unix-batch");
    let (first, second) = (dir.join("w1.sock"), dir.join("w2.sock"));
    let _workers = [worker_on(&first)?, worker_on(&second)?];
    let socket = dir.join("c.sock");
    let _coordinator = Proc::coordinator([
        "--worker".to_string(),
        unix(&first),
        "--worker".to_string(),
        unix(&second),
        "--listen-unix".to_string(),
        socket.display().to_string(),
    ])?;
    for path in [&first, &second, &socket] {
        let meta = std::fs::metadata(path)?;
        assert!(meta.file_type().is_socket(), "{}", path.display());
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "only this user may connect: {}",
            path.display()
        );
    }
    let url = unix(&socket);
    let inputs = "100000,100100,100200,100300,100000,100100,100200,100300";
    let run = Cmd::new("cluster-submit")?
        .args(["sum-primes", "--inputs", inputs, "--coordinator", &url])
        .output(DEADLINE)?;
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    let sums: Vec<&str> = out.lines().filter(|line| line.starts_with("Sum of primes")).collect();
    assert_eq!(sums, [SUMS, SUMS].concat(), "{out}");
    // Both workers took part, each named by its socket.
    for worker in [&first, &second] {
        let row = out.lines().find(|line| line.ends_with(&unix(worker))).unwrap_or_else(|| panic!("{out}"));
        let jobs: u64 = row.split('|').next().unwrap_or_default().trim().parse()?;
        assert!(jobs >= 1, "{row}");
    }
    let status = Cmd::new("cluster-submit")?.args(["status", "--coordinator", &url]).output(DEADLINE)?;
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(stdout(&status).contains("active workers: 2 of 2"), "{}", stdout(&status));
    Ok(())
}

#[test]
fn a_socket_left_by_a_dead_process_is_replaced_and_a_live_one_is_refused() -> Result<()> {
    let dir = temp_dir("unix-stale");
    let socket = dir.join("w.sock");
    // A listener that went away without removing its file.
    drop(std::os::unix::net::UnixListener::bind(&socket)?);
    assert!(socket.exists());
    let mut worker = worker_on(&socket)?;
    // Another worker on the same path must not take it over.
    refused_at(&socket, "another process listens on it")?;
    // The first one still serves: a coordinator reaches it there.
    let coordinator = Proc::coordinator(["--worker".to_string(), unix(&socket)])?;
    let run = Cmd::new("cluster-submit")?
        .args(["sum-primes", "--inputs", "100000", "--coordinator", &coordinator.url()])
        .output(DEADLINE)?;
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stdout(&run).contains(SUMS[0]), "{}", stdout(&run));
    // A worker that stops removes its socket.
    worker.signal(Signal::Term);
    worker.wait_exit(DEADLINE)?;
    assert!(!socket.exists(), "the socket file outlived its worker");
    Ok(())
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone_and_tls_is_refused() -> Result<()> {
    let dir = temp_dir("unix-refusals");
    let file = dir.join("notes.txt");
    std::fs::write(&file, "keep me")?;
    refused_at(&file, "a file that is not a socket is there")?;
    assert_eq!(std::fs::read_to_string(&file)?, "keep me");

    let pki = generate(&dir.join("pki"))?;
    let tls = Cmd::new("cluster-coordinator")?
        .args(["--listen", "127.0.0.1:0", "--listen-unix"])
        .args([dir.join("c.sock")])
        .args([
            "--tls-cert".as_ref(),
            pki.server_cert.as_os_str(),
            "--tls-key".as_ref(),
            pki.server_key.as_os_str(),
        ])
        .output(DEADLINE)?;
    assert!(!tls.status.success());
    let err = stderr(&tls);
    assert!(err.contains("a Unix socket listener serves plaintext"), "{err}");
    assert!(!dir.join("c.sock").exists());
    Ok(())
}

#[test]
fn a_missing_socket_is_a_clear_connect_error() -> Result<()> {
    let dir = temp_dir("unix-missing");
    let url = unix(&dir.join("nobody.sock"));
    let out = Cmd::new("cluster-submit")?.args(["status", "--coordinator", &url]).output(DEADLINE)?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot connect to {url}")), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
    Ok(())
}

#[test]
fn a_worker_registers_over_the_coordinators_socket_and_only_there_may_advertise_one() -> Result<()> {
    let dir = temp_dir("unix-register");
    let secret = "unix registration secret";
    let (coordinator_socket, worker_socket) = (dir.join("c.sock"), dir.join("w.sock"));
    let coordinator = Cmd::new("cluster-coordinator")?
        .args(["--listen", "127.0.0.1:0", "--listen-unix"])
        .args([&coordinator_socket])
        .env("CLUSTER_SECRET", secret)
        .start()?;
    let register = |via: &str, socket: &Path| -> Result<Proc> {
        Cmd::new("cluster-worker")?
            .args([
                "--listen",
                "127.0.0.1:0",
                "--cpus",
                "1",
                "--coordinator",
                via,
                "--advertise",
                &unix(socket),
            ])
            .args(["--listen-unix".as_ref(), socket.as_os_str()])
            .env("CLUSTER_SECRET", secret)
            .start()
    };
    // Over the coordinator's socket: dialled back on the worker's, with
    // the secret checked both ways.
    let _local = register(&unix(&coordinator_socket), &worker_socket)?;
    let url = unix(&coordinator_socket);
    let run = Cmd::new("cluster-submit")?
        .args(["sum-primes", "--inputs", "100000,100100", "--coordinator", &url])
        .env("CLUSTER_SECRET", secret)
        .output(DEADLINE)?;
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stdout(&run).contains(SUMS[1]), "{}", stdout(&run));
    assert!(stdout(&run).contains(&unix(&worker_socket)), "{}", stdout(&run));
    // Over TCP, a Unix socket could be any local service's: refused.
    let afar = register(&coordinator.url(), &dir.join("w2.sock"))?;
    afar.wait_log("may advertise one only when it registers over the coordinator's --listen-unix socket");
    let status = Cmd::new("cluster-submit")?
        .args(["status", "--coordinator", &url, "--json"])
        .env("CLUSTER_SECRET", secret)
        .output(DEADLINE)?;
    let json: serde_json::Value = serde_json::from_str(stdout(&status).trim())?;
    assert_eq!(json["workers"].as_array().map(Vec::len), Some(1), "{json}");
    Ok(())
}

#[test]
fn a_server_with_network_names_still_takes_signed_calls_on_its_socket() -> Result<()> {
    let dir = temp_dir("unix-names");
    let secret = "unix names secret";
    let with_secret = |cmd: Cmd| cmd.env("CLUSTER_SECRET", secret);
    // A coordinator that knows itself by a network name only.
    let socket = dir.join("c.sock");
    let _coordinator = with_secret(Cmd::new("cluster-coordinator")?)
        .args(["--listen", "127.0.0.1:0", "--server-name", "coordinator.example:7700", "--listen-unix"])
        .args([&socket])
        .start()?;
    // A worker dialled back over TCP (its advertised address becomes its
    // server name) that also serves a socket, dialled there by a second
    // coordinator.
    let worker_socket = dir.join("w.sock");
    let _worker = with_secret(Cmd::new("cluster-worker")?)
        .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--coordinator", &unix(&socket)])
        .args(["--advertise", "127.0.0.1", "--listen-unix"])
        .args([&worker_socket])
        .start()?;
    let second = with_secret(Cmd::new("cluster-coordinator")?)
        .args(["--listen", "127.0.0.1:0", "--worker", &unix(&worker_socket)])
        .start()?;
    for url in [unix(&socket), second.url()] {
        let run = with_secret(Cmd::new("cluster-submit")?)
            .args(["sum-primes", "--inputs", "100000", "--coordinator", &url])
            .output(DEADLINE)?;
        assert!(run.status.success(), "{url}: {}", stderr(&run));
        assert!(stdout(&run).contains(SUMS[0]), "{url}: {}", stdout(&run));
    }
    Ok(())
}

#[test]
fn of_workers_started_at_once_on_one_path_one_serves_and_none_removes_anothers_socket() -> Result<()> {
    let dir = temp_dir("unix-race");
    let socket = dir.join("w.sock");
    let mut racers = Vec::new();
    for _ in 0..4 {
        racers.push(
            Cmd::new("cluster-worker")?
                .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--listen-unix"])
                .args([&socket])
                .spawn()?,
        );
    }
    let until = std::time::Instant::now() + DEADLINE;
    let mut serving = Vec::new();
    for mut racer in racers {
        loop {
            if racer.out().contains("listening on") {
                serving.push(racer);
                break;
            }
            if racer.check_alive().is_err() {
                assert!(racer.log().contains("another process listens on it"), "{}", racer.log());
                break;
            }
            assert!(std::time::Instant::now() < until, "a racer neither served nor stopped: {}", racer.log());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    assert_eq!(serving.len(), 1, "exactly one worker serves the path");
    // Its socket removed under it, a second worker takes the path; the
    // first one's stop must not remove the second one's socket.
    std::fs::remove_file(&socket)?;
    let second = worker_on(&socket)?;
    let mut first = serving.remove(0);
    first.signal(Signal::Term);
    first.wait_exit(DEADLINE)?;
    assert!(socket.exists(), "the first worker removed the second one's socket");
    let coordinator = Proc::coordinator(["--worker".to_string(), unix(&socket)])?;
    let run = Cmd::new("cluster-submit")?
        .args(["sum-primes", "--inputs", "100000", "--coordinator", &coordinator.url()])
        .output(DEADLINE)?;
    assert!(run.status.success(), "{}", stderr(&run));
    drop(second);
    Ok(())
}
