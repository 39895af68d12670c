//! Latency: sequential single-task jobs over one connection.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cluster_client::tasks::noop;
use cluster_client::Client;
use cluster_node::affinity::CpuList;
use cluster_testkit::ProcCluster;
use serde_json::json;

use super::{check_results, cpu_seconds, deadline, thousands, thread_cpu_seconds, Figure, Plan, Row};

/// Targets, in microseconds.
const P50_TARGET: f64 = 200.0;
const P99_TARGET: f64 = 500.0;

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let n = plan.latency_jobs;
    let warmup = (n / 10).min(100);
    let mut cluster = start(plan, None, &[]).await?;
    let mut client = cluster.client().await?;
    let tcp = measure(&mut cluster, n, warmup).await?;
    // For scale: one unary gRPC round trip to the coordinator.
    let mut status_micros = Vec::with_capacity(n);
    for _ in 0..n.min(500) {
        let start = Instant::now();
        client.status().await.context("status")?;
        status_micros.push(start.elapsed().as_secs_f64() * 1e6);
    }
    status_micros.sort_by(f64::total_cmp);
    let status_p50 = percentile(&status_micros, 0.50);
    cluster.check_alive()?;
    drop(cluster);
    // The same cluster on one machine over Unix sockets (--listen-unix).
    let sockets = tempfile::Builder::new().prefix("cluster-bench-").tempdir()?;
    let unix = measure(&mut start(plan, Some(sockets.path()), &[]).await?, n, warmup).await?;
    // Both again with the control plane on one core.
    let core = cluster_node::affinity::current_cpus()?.cpus()[0];
    let one_core = [format!("--async-cpus={core}")];
    let tcp_one_core = measure_on(core, &mut start(plan, None, &one_core).await?, n, warmup).await?;
    let sockets = tempfile::Builder::new().prefix("cluster-bench-").tempdir()?;
    let unix_one_core =
        measure_on(core, &mut start(plan, Some(sockets.path()), &one_core).await?, n, warmup).await?;
    let n_tcp = n.min(2000);
    let floor = |over_unix: bool, far_cpu: usize| {
        tokio::task::spawn_blocking(move || {
            if over_unix {
                unix_round_trip_p50(n_tcp, far_cpu).context("Unix socket ping-pong")
            } else {
                tcp_round_trip_p50(n_tcp, far_cpu).context("loopback TCP ping-pong")
            }
        })
    };
    let (tcp_p50, unix_p50) = (floor(false, 1).await??, floor(true, 1).await??);
    let (tcp_one_core_p50, unix_one_core_p50) = (floor(false, 0).await??, floor(true, 0).await??);
    let floor_ratio = tcp.p50 / (2.0 * tcp_p50);
    let unix_floor_ratio = unix.p50 / (2.0 * unix_p50);
    let detail = format!(
        "{} sequential 1-noop jobs (after {warmup} warm-up), one connection (client on a current-thread \
         runtime), 2 workers x 1 cpu, over loopback TCP; \
         min {:.0} us, max {:.0} us; for scale, a status() round trip: p50 {status_p50:.0} us; \
         a loopback TCP round trip between threads on two cores: p50 {tcp_p50:.0} us, and a job's four hops \
         are two of those: the job took {floor_ratio:.2}x that floor; {}",
        thousands(n as u64),
        tcp.micros[0],
        tcp.micros[tcp.micros.len() - 1],
        tcp.cpu_detail(),
    );
    let unix_detail = format!(
        "the same jobs with the client, the coordinator and both workers on Unix sockets \
         (--listen-unix, --worker unix:PATH); min {:.0} us, max {:.0} us; a Unix socket round trip between \
         threads on two cores: p50 {unix_p50:.0} us: the job took {unix_floor_ratio:.2}x two of those; {}",
        unix.micros[0],
        unix.micros[unix.micros.len() - 1],
        unix.cpu_detail(),
    );
    let one_core_detail = |over: &str, measured: &Measured, floor: f64| {
        format!(
            "the same jobs over {over} with the coordinator and the workers started with --async-cpus {core} \
             and the client's thread on core {core} too (the workers' task slots keep every core); \
             min {:.0} us, max {:.0} us; a round trip between two threads on one core: p50 {floor:.0} us; {}",
            measured.micros[0],
            measured.micros[measured.micros.len() - 1],
            measured.cpu_detail(),
        )
    };
    let mut rows = Vec::new();
    // Each run's rows: `latency p50{how}` and `latency p99{how}`.
    for (how, measured, detail) in [
        ("", &tcp, detail),
        (", unix sockets", &unix, unix_detail),
        (", one core", &tcp_one_core, one_core_detail("loopback TCP", &tcp_one_core, tcp_one_core_p50)),
        (
            ", unix sockets, one core",
            &unix_one_core,
            one_core_detail("Unix sockets", &unix_one_core, unix_one_core_p50),
        ),
    ] {
        rows.push(
            Row::new(format!("latency p50{how}"), format!("{:.0} us", measured.p50))
                .target(format!("<= {P50_TARGET:.0} us"), measured.p50 <= P50_TARGET)
                .detail(detail),
        );
        rows.push(
            Row::new(format!("latency p99{how}"), format!("{:.0} us", measured.p99))
                .target(format!("<= {P99_TARGET:.0} us"), measured.p99 <= P99_TARGET),
        );
    }
    Ok(Figure {
        rows,
        json: json!({
            "jobs": n,
            "p50_us": tcp.p50,
            "p99_us": tcp.p99,
            "min_us": tcp.micros[0],
            "max_us": tcp.micros[tcp.micros.len() - 1],
            "status_rtt_p50_us": status_p50,
            "tcp_rtt_p50_us": tcp_p50,
            "p50_over_two_tcp_rtt": floor_ratio,
            "cpu_us_per_job": tcp.cpu_json(),
            "unix": {
                "p50_us": unix.p50,
                "p99_us": unix.p99,
                "min_us": unix.micros[0],
                "max_us": unix.micros[unix.micros.len() - 1],
                "cpu_us_per_job": unix.cpu_json(),
                "unix_rtt_p50_us": unix_p50,
                "p50_over_two_unix_rtt": unix_floor_ratio,
            },
            "one_core": {
                "core": core,
                "tcp": tcp_one_core.json(),
                "unix": unix_one_core.json(),
                "tcp_rtt_p50_us": tcp_one_core_p50,
                "unix_rtt_p50_us": unix_one_core_p50,
            },
            "target_p50_us": P50_TARGET,
            "target_p99_us": P99_TARGET,
            "met": tcp.p50 <= P50_TARGET && tcp.p99 <= P99_TARGET,
            "met_unix": unix.p50 <= P50_TARGET && unix.p99 <= P99_TARGET,
            "met_one_core": tcp_one_core.p50 <= P50_TARGET && tcp_one_core.p99 <= P99_TARGET,
        }),
    })
}

/// The latency cluster: two one-slot workers, over loopback TCP or, with
/// `sockets`, over Unix sockets in that directory; `extra` flags for every
/// process.
async fn start(plan: &Plan, sockets: Option<&Path>, extra: &[String]) -> Result<ProcCluster> {
    let worker: Vec<String> = ["--cpus", "1"]
        .iter()
        .map(|s| s.to_string())
        .chain(plan.worker_args.iter().chain(extra).cloned())
        .collect();
    let coordinator: Vec<String> = plan.coordinator_args.iter().chain(extra).cloned().collect();
    let workers = [worker.clone(), worker];
    match sockets {
        Some(dir) => ProcCluster::start_unix(dir, &workers, &coordinator).await,
        None => ProcCluster::start(&workers, &coordinator).await,
    }
}

/// [`measure`] with the calling thread (the client's) held to `core`; the
/// cluster must be started first, or its processes would inherit it.
async fn measure_on(core: usize, cluster: &mut ProcCluster, n: usize, warmup: usize) -> Result<Measured> {
    let one_core = CpuList::one(core).context("core number")?;
    cluster_node::affinity::pin_current_thread(&one_core)?;
    let measured = measure(cluster, n, warmup).await;
    cluster_node::affinity::unpin_current_thread();
    measured
}

/// Round trips of one run, and the CPU each side spent per job.
struct Measured {
    micros: Vec<f64>,
    p50: f64,
    p99: f64,
    coordinator_cpu: f64,
    workers_cpu: f64,
    client_cpu: f64,
}

impl Measured {
    fn cpu_detail(&self) -> String {
        format!(
            "CPU per job: coordinator {:.0} us, workers {:.0} us, client thread {:.0} us",
            self.coordinator_cpu, self.workers_cpu, self.client_cpu
        )
    }

    fn cpu_json(&self) -> serde_json::Value {
        json!({ "coordinator": self.coordinator_cpu, "workers": self.workers_cpu, "client_thread": self.client_cpu })
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "p50_us": self.p50,
            "p99_us": self.p99,
            "min_us": self.micros[0],
            "max_us": self.micros[self.micros.len() - 1],
            "cpu_us_per_job": self.cpu_json(),
        })
    }
}

/// Sequential one-noop jobs on `cluster`, with the CPU time its processes
/// and the client's thread spent on them.
async fn measure(cluster: &mut ProcCluster, n: usize, warmup: usize) -> Result<Measured> {
    let mut client = cluster.client().await?;
    let pids: Vec<u32> =
        std::iter::once(&cluster.coordinator).chain(&cluster.workers).map(|p| p.pid()).collect();
    let before = pids.iter().map(|&pid| cpu_seconds(pid)).collect::<Result<Vec<_>>>()?;
    let client_before = thread_cpu_seconds()?;
    let micros = round_trips(&mut client, n, warmup).await?;
    let per_job = |before: f64, after: f64| (after - before) * 1e6 / (warmup + n) as f64;
    let client_cpu = per_job(client_before, thread_cpu_seconds()?);
    let mut spent = Vec::with_capacity(pids.len());
    for (pid, before) in pids.iter().zip(before) {
        spent.push(per_job(before, cpu_seconds(*pid)?));
    }
    cluster.check_alive()?;
    Ok(Measured {
        p50: percentile(&micros, 0.50),
        p99: percentile(&micros, 0.99),
        micros,
        coordinator_cpu: spent[0],
        workers_cpu: spent[1..].iter().sum(),
        client_cpu,
    })
}

/// Runs `warmup + n` sequential one-noop jobs; returns the last `n` round
/// trips in microseconds, sorted.
pub(super) async fn round_trips(client: &mut Client, n: usize, warmup: usize) -> Result<Vec<f64>> {
    let mut micros = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let mut results = Vec::with_capacity(1);
        let start = Instant::now();
        let summary = deadline(
            Duration::from_secs(30),
            "a single-task job",
            client.run("bench-latency", std::iter::once(noop(0)), |r| results.push(r)),
        )
        .await?
        .with_context(|| format!("single-task job {i}"))?;
        let elapsed = start.elapsed();
        check_results(1, &results, &summary, |_, output| match output.value {
            Some(cluster_proto::task_output::Value::Noop(_)) => Ok(()),
            ref other => bail!("noop task returned {other:?}"),
        })
        .with_context(|| format!("single-task job {i}"))?;
        if i >= warmup {
            micros.push(elapsed.as_secs_f64() * 1e6);
        }
    }
    micros.sort_by(f64::total_cmp);
    Ok(micros)
}

/// The p50 of `n` one-byte loopback TCP round trips between two threads
/// pinned to different cores, each sleeping in `recv` between messages as
/// the mesh's processes sleep in `epoll_wait`: the host's floor for one hop
/// there and back between cores. (Unpinned, the two threads often share a
/// core, and the figure swings between about 20 us and the cross-core
/// figure from one run to the next.)
fn tcp_round_trip_p50(n: usize, far_cpu: usize) -> std::io::Result<f64> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let near = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (far, _) = listener.accept()?;
    near.set_nodelay(true)?;
    far.set_nodelay(true)?;
    round_trip_p50(n, near, far, far_cpu)
}

/// The same over a Unix socket pair: the floor of the Unix-socket rows.
fn unix_round_trip_p50(n: usize, far_cpu: usize) -> std::io::Result<f64> {
    let (near, far) = std::os::unix::net::UnixStream::pair()?;
    round_trip_p50(n, near, far, far_cpu)
}

/// `n` one-byte round trips from `near` (on core 0) through an echo on
/// `far` (on `far_cpu`: 1 for the cross-core floor, 0 for one core); their
/// p50 in microseconds.
fn round_trip_p50<S>(n: usize, mut near: S, mut far: S, far_cpu: usize) -> std::io::Result<f64>
where
    S: std::io::Read + std::io::Write + Send + 'static,
{
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        pin_to_cpu(far_cpu);
        let mut byte = [0u8; 1];
        while far.read(&mut byte)? == 1 {
            far.write_all(&byte)?;
        }
        Ok(())
    });
    let ping = std::thread::spawn(move || -> std::io::Result<Vec<f64>> {
        pin_to_cpu(0);
        let mut micros = Vec::with_capacity(n);
        let mut byte = [0u8; 1];
        for _ in 0..n {
            let start = Instant::now();
            near.write_all(&byte)?;
            near.read_exact(&mut byte)?;
            micros.push(start.elapsed().as_secs_f64() * 1e6);
        }
        Ok(micros)
    });
    let panicked = |_| std::io::Error::other("a ping-pong thread panicked");
    let mut micros = ping.join().map_err(panicked)??;
    echo.join().map_err(panicked)??;
    micros.sort_by(f64::total_cmp);
    Ok(percentile(&micros, 0.50))
}

/// Pins the calling thread to `cpu`; where that fails (one core, say) the
/// thread stays where the kernel puts it.
fn pin_to_cpu(cpu: usize) {
    if let Some(cpus) = CpuList::one(cpu) {
        let _ = cluster_node::affinity::pin_current_thread(&cpus);
    }
}

/// Nearest-rank percentile of sorted values.
pub(super) fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
