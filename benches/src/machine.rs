//! What machine the figures were measured on.

use std::process::Command;

/// Cores, kernel and CPU model.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) cores: usize,
    pub(crate) kernel: String,
    pub(crate) cpu: String,
    /// /proc/loadavg's 1-minute figure when the run started: other load on
    /// a shared machine skews every figure.
    pub(crate) load: Option<f64>,
}

impl Machine {
    pub(crate) fn detect() -> Machine {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let kernel = Command::new("uname")
            .arg("-r")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .unwrap_or_else(|| "unknown".into());
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok());
        Machine { cores, kernel, cpu, load }
    }

    pub(crate) fn line(&self) -> String {
        let load = self.load.map_or_else(|| "unknown".into(), |l| format!("{l:.2}"));
        format!(
            "machine: {} cores (available_parallelism), kernel {}, CPU {}; load average {load} at start",
            self.cores, self.kernel, self.cpu
        )
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "cores": self.cores,
            "kernel": self.kernel,
            "cpu": self.cpu,
            "load_average_1m": self.load,
        })
    }
}
