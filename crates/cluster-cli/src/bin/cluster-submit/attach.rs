//! `cluster-submit attach`: pick up a job from another process or machine
//! (or one that died) and print its results as they come.

use std::time::{Duration, Instant};

use cluster_client::JobEvent;

use super::report::{self, Row, Stats};
use super::{Connection, Outcome};

/// How long to keep reconnecting when the coordinator goes away.
const RECONNECT: Duration = Duration::from_secs(60);

pub(crate) async fn run(to: Connection, job: u64, as_json: bool) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut client = to.connect().await?;
    let mut received = 0u64;
    let summary = client
        .attach(job, RECONNECT, |event| match event {
            JobEvent::Resumed { results_before: 0, .. } => {
                eprintln!("attached to job {job}")
            }
            JobEvent::Reconnecting(why) => eprintln!("coordinator lost ({why}); reconnecting..."),
            JobEvent::Notice(message) => eprintln!("{message}"),
            JobEvent::Result(result) => {
                received += 1;
                let index = result.id;
                let row = Row { input: serde_json::Value::Null, result: Some(result) };
                if as_json {
                    println!("{}", report::json_line(index as usize, &row));
                } else if let Some(line) = report::failure_line(index as usize, "task", &row) {
                    println!("{line}");
                } else {
                    println!("{}", report::plain_line(index, &row));
                }
            }
            _ => {}
        })
        .await?;
    let stats = Stats { summary: &summary, elapsed: started.elapsed(), job_id: job };
    if as_json {
        println!("{}", stats.json());
    } else {
        print!("{}", stats.table());
        eprintln!("{received} results received here");
    }
    Ok(if summary.failed == 0 { Outcome::Succeeded } else { Outcome::TasksFailed })
}
