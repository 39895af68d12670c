//! Shared-secret authentication, TLS and mutual TLS, safe defaults. Every
//! pair of roles in-process; the binaries' flags, logs and refusals with
//! real processes. Certificates made here with rcgen.

use anyhow::Result;
use cluster_auth::scheme::{self, HEADER};
use cluster_auth::test_util::{generate, TestPki};
use cluster_auth::{Secret, Security};
use cluster_client::{tasks, Client};
use cluster_proto::client_service_client::ClientServiceClient;
use cluster_proto::StatusRequest;
use cluster_testkit::{
    active_workers, connect, seed_sum, stderr, stdout, submit, temp_dir, wait_status, Cmd, Proc, TestCluster,
    DEADLINE,
};
use tonic::Code;

const SECRET: &str = "correct horse battery staple 42";
const WRONG: &str = "not the secret";

fn with_secret(secret: &str) -> Security {
    Security { secret: Some(Secret::new(secret).unwrap()), ..Security::default() }
}

/// A server binary on a free loopback port with the secret in its environment.
fn with_env_secret(name: &str, secret: &str, args: &[&str]) -> Result<Proc> {
    Cmd::new(name)?.args(["--listen", "127.0.0.1:0"]).args(args).env("CLUSTER_SECRET", secret).start()
}

async fn status_error(url: &str, security: &Security) -> (Code, String) {
    let mut client = Client::connect_with(url, security).await.expect("connect");
    match client.status().await {
        Err(cluster_client::ClientError::Status { code, message }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn client_to_coordinator_needs_the_secret() -> Result<()> {
    let cluster = TestCluster::builder().secret(SECRET).worker(1).start().await?;
    let url = cluster.url().to_string();
    let mut client = cluster.client();
    assert_eq!(client.run("ok", (0..4).map(tasks::noop), |_| {}).await.unwrap().succeeded, 4);

    assert_eq!(status_error(&url, &with_secret(WRONG)).await, (Code::Unauthenticated, "wrong secret".into()));
    let (code, message) = status_error(&url, &Security::default()).await;
    assert_eq!(code, Code::Unauthenticated);
    assert!(message.starts_with("missing credentials: this server requires the cluster secret"), "{message}");

    // A captured header: expired when old, refused when replayed.
    let secret = Secret::new(SECRET).unwrap();
    let path = "/cluster.v1.ClientService/Status";
    let call = scheme::Call::new(url.trim_start_matches("http://"), path);
    let old = scheme::sign_at(&secret, call, scheme::now_millis() - 120_000, [7; 16]);
    let (code, message) = raw_status(&url, &old).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    assert!(message.starts_with("credentials expired or clock skew over"), "{message}");
    let fresh = scheme::sign(&secret, call);
    raw_status(&url, &fresh).await.expect("first use of a fresh header");
    assert_eq!(
        raw_status(&url, &fresh).await.unwrap_err(),
        (Code::Unauthenticated, "replayed credentials".into())
    );
    // A header made for another method does not open this one.
    let other = scheme::sign(&secret, scheme::Call::new(call.authority, "/cluster.v1.ClientService/Cancel"));
    assert_eq!(raw_status(&url, &other).await.unwrap_err().0, Code::Unauthenticated);
    Ok(())
}

#[tokio::test]
async fn a_header_captured_on_its_way_to_one_worker_opens_nothing_on_another() -> Result<()> {
    let coordinator = with_env_secret("cluster-coordinator", SECRET, &[])?;
    let url = coordinator.url();
    let join = || {
        with_env_secret(
            "cluster-worker",
            SECRET,
            &["--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"],
        )
    };
    let (a, b) = (join()?, join()?);
    wait_until_active(&mut connect(&url, &with_secret(SECRET)).await?, 2).await?;
    let secret = Secret::new(SECRET).unwrap();
    let get_info = "/cluster.v1.WorkerService/GetInfo";
    // What an observer saw going to A, replayed to B as it was (addressed to
    // A) and as B would be addressed: refused both ways.
    let to_a = scheme::sign(&secret, scheme::Call::new(a.addr(), get_info));
    let (code, message) = raw_get_info(b.addr(), a.addr(), &to_a).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    assert_eq!(
        message,
        format!(
            "credentials made for another server: the call was addressed to `{}`, which is not one of this \
             server's names (see --server-name)",
            a.addr()
        )
    );
    let (code, message) = raw_get_info(b.addr(), b.addr(), &to_a).await.unwrap_err();
    assert_eq!((code, message.as_str()), (Code::Unauthenticated, "wrong secret"));
    // The header still works once, where it was meant to go.
    raw_get_info(a.addr(), a.addr(), &to_a).await.expect("the header on its own server");
    Ok(())
}

/// Calls a worker's GetInfo at `addr`, addressed (`:authority`) to
/// `authority`, with exactly this credentials header.
async fn raw_get_info(addr: &str, authority: &str, header: &str) -> Result<(), (Code, String)> {
    use cluster_proto::worker_service_client::WorkerServiceClient;
    let origin: tonic::transport::Uri = format!("http://{authority}").parse().unwrap();
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().origin(origin);
    let mut request = tonic::Request::new(cluster_proto::GetInfoRequest {});
    request.metadata_mut().insert(HEADER, header.parse().unwrap());
    WorkerServiceClient::new(endpoint.connect().await.unwrap())
        .get_info(request)
        .await
        .map(drop)
        .map_err(|s| (s.code(), s.message().to_string()))
}

/// Calls Status with exactly this credentials header.
async fn raw_status(url: &str, header: &str) -> Result<(), (Code, String)> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string()).unwrap().connect().await.unwrap();
    let mut request = tonic::Request::new(StatusRequest {});
    request.metadata_mut().insert(HEADER, header.parse().unwrap());
    ClientServiceClient::new(channel)
        .status(request)
        .await
        .map(|_| ())
        .map_err(|s| (s.code(), s.message().to_string()))
}

async fn wait_until_active(client: &mut Client, n: usize) -> Result<()> {
    wait_status(client, &format!("{n} active workers"), |s| active_workers(s) == n).await.map(drop)
}

#[tokio::test]
async fn coordinator_to_worker_needs_the_secret() -> Result<()> {
    let worker = with_env_secret("cluster-worker", SECRET, &["--cpus", "1"])?;
    for (secret, why) in [(Some(WRONG), "wrong secret"), (None, "missing credentials")] {
        let args = ["--listen", "127.0.0.1:0", "--worker", worker.addr()];
        let coordinator = match secret {
            Some(s) => Cmd::new("cluster-coordinator")?.args(args).env("CLUSTER_SECRET", s).start()?,
            None => Cmd::new("cluster-coordinator")?.args(args).start()?,
        };
        let own = secret.map(with_secret).unwrap_or_default();
        let status = wait_status(&mut connect(&coordinator.url(), &own).await?, "a refused dial", |s| {
            s.workers.iter().any(|w| w.last_error.contains("Unauthenticated"))
        })
        .await?;
        assert_eq!(active_workers(&status), 0);
        assert!(status.workers[0].last_error.contains(why), "{:?}", status.workers[0]);
        coordinator.wait_log(why); // the coordinator says why (its log is read by another thread)
    }
    let good = with_env_secret("cluster-coordinator", SECRET, &["--worker", worker.addr()])?;
    let mut client = connect(&good.url(), &with_secret(SECRET)).await?;
    wait_until_active(&mut client, 1).await
}

#[tokio::test]
async fn worker_with_a_wrong_secret_never_gets_a_task() -> Result<()> {
    let coordinator = with_env_secret("cluster-coordinator", SECRET, &[])?;
    let url = coordinator.url();
    let join = |secret| {
        with_env_secret(
            "cluster-worker",
            secret,
            &["--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"],
        )
    };
    let intruder = join(WRONG)?;
    let member = join(SECRET)?;
    let mut client = connect(&url, &with_secret(SECRET)).await?;
    wait_until_active(&mut client, 1).await?;
    let mut ran_on = Vec::new();
    client.run("members only", (0..20).map(tasks::noop), |r| ran_on.push(r.worker)).await?;
    assert!(ran_on.iter().all(|w| *w == member.addr()), "{ran_on:?}");
    let status = client.status().await?;
    assert!(status.workers.iter().all(|w| w.address != intruder.addr()));
    // What each binary logs about it (an assertion on the logs, not a wait).
    intruder.wait_log("wrong secret");
    coordinator.wait_log("refused a call: bad or missing credentials");
    assert!(coordinator.log().contains("RegistryService/Register"), "{}", coordinator.log());
    Ok(())
}

fn pki(name: &str) -> TestPki {
    generate(&temp_dir(name)).expect("test certificates")
}

fn p(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

/// The sum-primes lines the seed's eight inputs print.
const SEED8: &str = "500000,500100,500200,500300,500400,500500,500600,500700";

fn seed8_lines() -> Vec<String> {
    SEED8.split(',').map(|n| format!("Sum of primes below {n} is {}", seed_sum(n.parse().unwrap()))).collect()
}

#[tokio::test]
async fn tls_and_mutual_tls_between_every_role() -> Result<()> {
    let pki = pki("tls");
    // Every server presents a certificate and requires one from the CA;
    // every caller trusts the CA and presents its client certificate.
    let mut cluster = TestCluster::builder().tls(&pki, true).worker(2).start().await?;
    let https = cluster.url().to_string();
    assert!(https.starts_with("https://"), "{https}");
    // A worker registering itself over mutual TLS.
    let joiner = cluster.add_worker(1).await?;
    cluster.wait_for_workers(2).await?;
    assert!(cluster.status().await?.workers.iter().any(|w| w.address == cluster.addr(joiner)));

    let tls = |client_tls| Security { client_tls: Some(client_tls), ..Security::default() };
    // Plaintext against TLS fails.
    let plain = Client::connect(&format!("http://{}", cluster.coordinator_addr())).await;
    assert!(plain.is_err() || plain.unwrap().status().await.is_err());
    // A certificate from another CA fails.
    let other = Client::connect_with(&https, &tls(pki.client_tls_trusting_other_ca())).await;
    assert!(other.is_err() || other.unwrap().status().await.is_err());
    // Mutual TLS without a client certificate fails.
    let anonymous = Client::connect_with(&https, &tls(pki.client_tls(false))).await;
    assert!(anonymous.is_err() || anonymous.unwrap().status().await.is_err());

    // The right set-up runs the seed's batch correctly.
    let inputs: Vec<u64> = SEED8.split(',').map(|n| n.parse().unwrap()).collect();
    let mut sums = Vec::new();
    let batch = inputs.iter().enumerate().map(|(i, &n)| tasks::sum_primes(i as u64, n)).collect::<Vec<_>>();
    cluster.client().run("seed", batch, |r| sums.push(r)).await?;
    sums.sort_by_key(|r| r.id);
    let lines: Vec<String> = sums
        .iter()
        .map(|r| match &r.outcome {
            Some(cluster_proto::task_result::Outcome::Output(out)) => match out.value {
                Some(cluster_proto::task_output::Value::SumPrimes(sum)) => {
                    format!("Sum of primes below {} is {sum}", inputs[r.id as usize])
                }
                ref other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lines, seed8_lines());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_flags_of_every_binary() -> Result<()> {
    let pki = pki("tls-flags");
    let serve = [
        "--tls-cert",
        p(&pki.server_cert),
        "--tls-key",
        p(&pki.server_key),
        "--tls-client-ca",
        p(&pki.ca_cert),
    ];
    let dial = [
        "--tls-ca",
        p(&pki.ca_cert),
        "--tls-client-cert",
        p(&pki.client_cert),
        "--tls-client-key",
        p(&pki.client_key),
    ];
    let worker = Proc::worker([&["--cpus", "2"][..], &serve].concat())?;
    let coordinator = Proc::coordinator([&["--worker", worker.addr()][..], &serve, &dial].concat())?;
    let https = format!("https://{}", coordinator.addr());
    let joiner = Proc::worker(
        [&["--cpus", "1", "--coordinator", https.as_str(), "--advertise", "127.0.0.1"][..], &serve, &dial]
            .concat(),
    )?;
    let security = Security { client_tls: Some(pki.client_tls(true)), ..Security::default() };
    let mut client = connect(&https, &security).await?;
    wait_until_active(&mut client, 2).await?;
    assert!(client.status().await?.workers.iter().any(|w| w.address == joiner.addr()));
    let args = [&["sum-primes", "--inputs", SEED8, "--coordinator", https.as_str()][..], &dial].concat();
    let out = tokio::task::block_in_place(|| submit(args))?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().take(8).collect::<Vec<_>>(), seed8_lines());
    Ok(())
}

#[test]
fn the_secret_never_appears_in_any_log() -> Result<()> {
    let secret = "s3cr3t-that-must-not-leak-9f2b";
    let dir = temp_dir("nolog");
    let file = dir.join("secret");
    std::fs::write(&file, format!("{secret}\n"))?;
    let flag = ["--secret-file", p(&file)];
    let debug = |name: &str| -> Result<Cmd> { Ok(Cmd::new(name)?.env("RUST_LOG", "debug")) };
    let worker =
        debug("cluster-worker")?.args(["--listen", "127.0.0.1:0", "--cpus", "1"]).args(flag).start()?;
    let coordinator = debug("cluster-coordinator")?
        .args(["--listen", "127.0.0.1:0", "--worker", worker.addr()])
        .args(flag)
        .start()?;
    let url = coordinator.url();
    let joiner = debug("cluster-worker")?
        .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"])
        .args(flag)
        .start()?;
    let good = debug("cluster-submit")?
        .args(["sum-primes", "--inputs", "100,1000", "--coordinator", &url])
        .args(flag)
        .output(DEADLINE)?;
    assert!(good.status.success(), "{}", stderr(&good));
    let bad = debug("cluster-submit")?
        .args(["status", "--coordinator", &url])
        .env("CLUSTER_SECRET", "wrong")
        .output(DEADLINE)?;
    assert!(!bad.status.success());
    let status = debug("cluster-submit")?
        .args(["status", "--coordinator", &url, "--json"])
        .args(flag)
        .output(DEADLINE)?;
    let everything = [
        worker.log(),
        coordinator.log(),
        joiner.log(),
        stdout(&good),
        stderr(&good),
        stdout(&bad),
        stderr(&bad),
        stdout(&status),
        stderr(&status),
    ]
    .concat();
    assert!(everything.contains("Sum of primes below 1000 is 76127"), "the run happened");
    assert!(!everything.contains(secret), "the secret leaked into the logs");
    Ok(())
}

#[test]
fn open_server_on_a_reachable_address_is_refused_with_the_fix() -> Result<()> {
    for binary in ["cluster-coordinator", "cluster-worker"] {
        let out = Cmd::new(binary)?.args(["--listen", "0.0.0.0:0"]).output(DEADLINE)?;
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{binary}: {err}");
        assert!(err.contains("refusing to listen on 0.0.0.0:0 without authentication"), "{binary}: {err}");
        assert!(err.contains("--secret-file PATH"), "{err}");
        assert!(err.contains("--insecure"), "{err}");
        let open = Cmd::new(binary)?.args(["--listen", "0.0.0.0:0", "--insecure"]).start()?;
        open.wait_log("without authentication (--insecure)");
    }
    Ok(())
}
