//! Shared-secret authentication, TLS and mutual TLS, safe defaults. Every
//! pair of roles, with real processes; certificates made here with rcgen.

use cluster_auth::scheme::{self, HEADER};
use cluster_auth::test_util::{generate, TestPki};
use cluster_auth::{Secret, Security};
use cluster_client::{tasks, Client};
use cluster_proto::client_service_client::ClientServiceClient;
use cluster_proto::StatusRequest;
use cluster_tests::{
    active_workers, run_to_exit, seed_sum, stderr, stdout, submit_with_env, temp_dir, wait_status_as, Proc,
};
use tonic::Code;

const SECRET: &str = "correct horse battery staple 42";
const WRONG: &str = "not the secret";

fn with_secret(secret: &str) -> Security {
    Security { secret: Some(Secret::new(secret).unwrap()), ..Security::default() }
}

fn env(secret: &str) -> [(&'static str, &str); 1] {
    [("CLUSTER_SECRET", secret)]
}

async fn status_error(url: &str, security: &Security) -> (Code, String) {
    let mut client = Client::connect_with(url, security).await.expect("connect");
    match client.status().await {
        Err(cluster_client::ClientError::Status { code, message }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn client_to_coordinator_needs_the_secret() {
    let worker =
        Proc::start_with_env("cluster-worker", &["--listen", "127.0.0.1:0", "--cpus", "1"], &env(SECRET));
    let coordinator = Proc::start_with_env(
        "cluster-coordinator",
        &["--listen", "127.0.0.1:0", "--worker", &worker.addr],
        &env(SECRET),
    );
    let url = coordinator.url();
    let mut client = Client::connect_with(&url, &with_secret(SECRET)).await.unwrap();
    wait_until_active(&mut client, 1).await;
    assert_eq!(client.run("ok", (0..4).map(tasks::noop), |_| {}).await.unwrap().succeeded, 4);

    assert_eq!(status_error(&url, &with_secret(WRONG)).await, (Code::Unauthenticated, "wrong secret".into()));
    let (code, message) = status_error(&url, &Security::default()).await;
    assert_eq!(code, Code::Unauthenticated);
    assert!(message.starts_with("missing credentials: this server requires the cluster secret"), "{message}");

    // A captured header: expired when old, refused when replayed.
    let secret = Secret::new(SECRET).unwrap();
    let path = "/cluster.v1.ClientService/Status";
    let old = scheme::sign_at(&secret, path, scheme::now_millis() - 120_000, [7; 16]);
    let (code, message) = raw_status(&url, &old).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    assert!(message.starts_with("credentials expired or clock skew over"), "{message}");
    let fresh = scheme::sign(&secret, path);
    raw_status(&url, &fresh).await.expect("first use of a fresh header");
    assert_eq!(
        raw_status(&url, &fresh).await.unwrap_err(),
        (Code::Unauthenticated, "replayed credentials".into())
    );
    // A header made for another method does not open this one.
    let other = scheme::sign(&secret, "/cluster.v1.ClientService/Cancel");
    assert_eq!(raw_status(&url, &other).await.unwrap_err().0, Code::Unauthenticated);
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

async fn wait_until_active(client: &mut Client, n: usize) {
    let until = std::time::Instant::now() + cluster_tests::DEADLINE;
    while active_workers(&client.status().await.unwrap()) != n {
        assert!(std::time::Instant::now() < until, "workers did not become active");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn coordinator_to_worker_needs_the_secret() {
    let worker =
        Proc::start_with_env("cluster-worker", &["--listen", "127.0.0.1:0", "--cpus", "1"], &env(SECRET));
    for (secret, why) in [(Some(WRONG), "wrong secret"), (None, "missing credentials")] {
        let args = ["--listen", "127.0.0.1:0", "--worker", &worker.addr];
        let coordinator = match secret {
            Some(s) => Proc::start_with_env("cluster-coordinator", &args, &env(s)),
            None => Proc::start("cluster-coordinator", &args),
        };
        let own = secret.map(with_secret).unwrap_or_default();
        let status = wait_status_as(&coordinator.url(), &own, "a refused dial", |s| {
            s.workers.iter().any(|w| w.last_error.contains("Unauthenticated"))
        })
        .await;
        assert_eq!(active_workers(&status), 0);
        assert!(status.workers[0].last_error.contains(why), "{:?}", status.workers[0]);
        assert!(coordinator.log().contains(why), "the coordinator says why: {}", coordinator.log());
    }
    let good = Proc::start_with_env(
        "cluster-coordinator",
        &["--listen", "127.0.0.1:0", "--worker", &worker.addr],
        &env(SECRET),
    );
    let mut client = Client::connect_with(&good.url(), &with_secret(SECRET)).await.unwrap();
    wait_until_active(&mut client, 1).await;
}

#[tokio::test]
async fn worker_with_a_wrong_secret_never_gets_a_task() {
    let coordinator = Proc::start_with_env("cluster-coordinator", &["--listen", "127.0.0.1:0"], &env(SECRET));
    let url = coordinator.url();
    let join = |secret| {
        Proc::start_with_env(
            "cluster-worker",
            &["--listen", "127.0.0.1:0", "--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"],
            &env(secret),
        )
    };
    let intruder = join(WRONG);
    let member = join(SECRET);
    let mut client = Client::connect_with(&url, &with_secret(SECRET)).await.unwrap();
    wait_until_active(&mut client, 1).await;
    let mut ran_on = Vec::new();
    client.run("members only", (0..20).map(tasks::noop), |r| ran_on.push(r.worker)).await.unwrap();
    assert!(ran_on.iter().all(|w| *w == member.addr), "{ran_on:?}");
    let status = client.status().await.unwrap();
    assert!(status.workers.iter().all(|w| w.address != intruder.addr));
    intruder.wait_log("wrong secret");
    coordinator.wait_log("refused a call: bad or missing credentials");
    assert!(coordinator.log().contains("RegistryService/Register"), "{}", coordinator.log());
}

fn pki(name: &str) -> TestPki {
    generate(&temp_dir(name)).expect("test certificates")
}

fn p(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test]
async fn tls_and_mutual_tls_between_every_role() {
    let pki = pki("tls");
    // Every server presents a certificate and requires one from the CA;
    // every caller trusts the CA and presents its client certificate.
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
    let worker = Proc::worker(&[&["--cpus", "2"][..], &serve].concat());
    let coordinator = Proc::coordinator(&[&["--worker", worker.addr.as_str()][..], &serve, &dial].concat());
    let https = format!("https://{}", coordinator.addr);
    let tls = |client_tls| Security { client_tls: Some(client_tls), ..Security::default() };
    // A worker registering itself over mutual TLS.
    let joiner = Proc::worker(
        &[&["--cpus", "1", "--coordinator", https.as_str(), "--advertise", "127.0.0.1"][..], &serve, &dial]
            .concat(),
    );
    let mut client = Client::connect_with(&https, &tls(pki.client_tls(true))).await.unwrap();
    wait_until_active(&mut client, 2).await;
    assert!(client.status().await.unwrap().workers.iter().any(|w| w.address == joiner.addr));

    // Plaintext against TLS fails.
    let plain = Client::connect(&format!("http://{}", coordinator.addr)).await;
    assert!(plain.is_err() || plain.unwrap().status().await.is_err());
    // A certificate from another CA fails.
    let other = Client::connect_with(&https, &tls(pki.client_tls_trusting_other_ca())).await;
    assert!(other.is_err() || other.unwrap().status().await.is_err());
    // Mutual TLS without a client certificate fails.
    let anonymous = Client::connect_with(&https, &tls(pki.client_tls(false))).await;
    assert!(anonymous.is_err() || anonymous.unwrap().status().await.is_err());

    // The right set-up runs the seed's batch correctly.
    let inputs = "500000,500100,500200,500300,500400,500500,500600,500700";
    let out = submit_with_env(
        &[&["sum-primes", "--inputs", inputs, "--coordinator", https.as_str()][..], &dial].concat(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let expected: Vec<String> = inputs
        .split(',')
        .map(|n| format!("Sum of primes below {n} is {}", seed_sum(n.parse().unwrap())))
        .collect();
    let text = stdout(&out);
    assert_eq!(text.lines().take(8).collect::<Vec<_>>(), expected);
}

#[test]
fn the_secret_never_appears_in_any_log() {
    let secret = "s3cr3t-that-must-not-leak-9f2b";
    let dir = temp_dir("nolog");
    let file = dir.join("secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let debug = [("RUST_LOG", "debug")];
    let flag = ["--secret-file", p(&file)];
    let worker = Proc::start_with_env(
        "cluster-worker",
        &[&["--listen", "127.0.0.1:0", "--cpus", "1"][..], &flag].concat(),
        &debug,
    );
    let coordinator = Proc::start_with_env(
        "cluster-coordinator",
        &[&["--listen", "127.0.0.1:0", "--worker", &worker.addr][..], &flag].concat(),
        &debug,
    );
    let url = coordinator.url();
    let joiner =
        Proc::start_with_env(
            "cluster-worker",
            &[
                &[
                    "--listen",
                    "127.0.0.1:0",
                    "--cpus",
                    "1",
                    "--coordinator",
                    &url,
                    "--advertise",
                    "127.0.0.1",
                ][..],
                &flag,
            ]
            .concat(),
            &debug,
        );
    let good = submit_with_env(
        &["sum-primes", "--inputs", "100,1000", "--coordinator", &url, "--secret-file", p(&file)],
        &debug,
    );
    assert!(good.status.success(), "{}", stderr(&good));
    let bad = submit_with_env(&["status", "--coordinator", &url], &[("CLUSTER_SECRET", "wrong"), debug[0]]);
    assert!(!bad.status.success());
    let status =
        submit_with_env(&["status", "--coordinator", &url, "--secret-file", p(&file), "--json"], &debug);
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
}

#[test]
fn open_server_on_a_reachable_address_is_refused_with_the_fix() {
    for binary in ["cluster-coordinator", "cluster-worker"] {
        let (code, err) = run_to_exit(binary, &["--listen", "0.0.0.0:0"]);
        assert_ne!(code, Some(0), "{binary}: {err}");
        assert!(err.contains("refusing to listen on 0.0.0.0:0 without authentication"), "{binary}: {err}");
        assert!(err.contains("--secret-file PATH"), "{err}");
        assert!(err.contains("--insecure"), "{err}");
        let open = Proc::start(binary, &["--listen", "0.0.0.0:0", "--insecure"]);
        open.wait_log("without authentication (--insecure)");
    }
}
