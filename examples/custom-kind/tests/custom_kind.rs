//! The custom worker beside a stock one, through a real coordinator.

use anyhow::Result;
use cluster_auth::Security;
use cluster_testkit::{active_workers, connect, stdout, wait_status, Cmd, Proc, DEADLINE};

#[tokio::test]
async fn the_custom_kind_runs_only_on_the_worker_that_has_it_and_comes_back_right() -> Result<()> {
    let coordinator = Proc::coordinator(Vec::<&str>::new())?;
    let join = |binary: &str| {
        Cmd::new(binary)?
            .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--coordinator", &coordinator.url()])
            .args(["--advertise", "127.0.0.1"])
            .start()
    };
    let stock = join("cluster-worker")?;
    let custom = join("chunk-hash-worker")?;
    let mut client = connect(&coordinator.url(), &Security::default()).await?;
    wait_status(&mut client, "2 active workers", |s| active_workers(s) == 2).await?;
    let output = Cmd::new("chunk-hash-client")?
        .args(["--coordinator", &coordinator.url(), "--size-mib", "8", "--chunk-mib", "1", "--seed", "42"])
        .output(DEADLINE)?;
    let printed = stdout(&output);
    assert!(output.status.success(), "{printed}");
    assert!(printed.ends_with("8 chunks, 8 right, 0 failed or wrong\n"), "{printed}");
    assert_eq!(
        printed.lines().filter(|l| l.ends_with(&format!("({})", custom.addr()))).count(),
        8,
        "{printed}"
    );
    // The stock worker, idle all along, was never handed a chunk.
    let status = client.status().await?;
    let row = |addr: &str| status.workers.iter().find(|w| w.address == addr).unwrap();
    assert_eq!((row(stock.addr()).completed, row(custom.addr()).completed), (0, 8));
    Ok(())
}
