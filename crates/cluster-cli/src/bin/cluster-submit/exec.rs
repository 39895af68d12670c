//! `cluster-submit exec`: a command per input, GNU parallel style, on
//! workers started with `--allow-exec`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use cluster_proto::{task_output, task_result, ExecInput, ExecOutput, Task, TaskResult};
use serde_json::{json, Value};

/// Where the inputs come from: exactly one of the three.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub(crate) struct Inputs {
    /// Comma-separated inputs.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    inputs: Option<Vec<String>>,
    /// A file with one input per line, or - for standard input.
    #[arg(long)]
    inputs_file: Option<PathBuf>,
    /// The integers FIRST..=LAST as inputs, e.g. 1-100.
    #[arg(long, value_parser = parse_range)]
    array: Option<(u64, u64)>,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{s}` is not a range like 1-100");
    let (first, last) = s.split_once('-').ok_or_else(bad)?;
    let (first, last): (u64, u64) = (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?);
    if first > last {
        return Err(format!("`{s}`: the range's first number is above its last"));
    }
    Ok((first, last))
}

impl Inputs {
    pub(crate) fn load(&self) -> anyhow::Result<Vec<String>> {
        if let Some(inputs) = &self.inputs {
            return Ok(inputs.clone());
        }
        if let Some((first, last)) = self.array {
            return Ok((first..=last).map(|n| n.to_string()).collect());
        }
        let path = self.inputs_file.as_ref().expect("clap requires one input source");
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--inputs-file {}: {e}", path.display()))?
        };
        Ok(text.lines().map(str::to_owned).collect())
    }
}

/// How each input becomes a command.
#[derive(clap::Args, Debug)]
pub(crate) struct Template {
    /// Run the command line under `sh -c` (inputs in it are quoted).
    #[arg(long)]
    shell: bool,
    /// A variable for the commands, as KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = cluster_cli::key_value)]
    env: Vec<(String, String)>,
    /// Most bytes of each command's stdout, and of its stderr, to keep
    /// [default: the worker's --max-output-bytes, 1 MiB].
    #[arg(long)]
    max_output_bytes: Option<u64>,
    /// The command: `{}` in an argument is replaced by the input and `{#}`
    /// by its index; with no `{}` anywhere, the input (and a newline) goes
    /// to the command's standard input.
    #[arg(last = true, required = true, num_args = 1..)]
    command: Vec<String>,
}

impl Template {
    /// The `exec` task for input `index`.
    pub(crate) fn task(&self, index: u64, input: &str) -> Task {
        let takes_argument = self.command.iter().any(|arg| arg.contains("{}"));
        let fill = |arg: &str, input: &str| arg.replace("{#}", &index.to_string()).replace("{}", input);
        let argv = if self.shell {
            let line =
                self.command.iter().map(|arg| fill(arg, &shell_words::quote(input))).collect::<Vec<_>>();
            vec!["sh".to_string(), "-c".to_string(), line.join(" ")]
        } else {
            self.command.iter().map(|arg| fill(arg, input)).collect()
        };
        let stdin = if takes_argument { Vec::new() } else { format!("{input}\n").into_bytes() };
        let exec = ExecInput {
            argv,
            stdin: stdin.into(),
            env: self.env.iter().cloned().collect(),
            working_dir: None,
            max_output_bytes: self.max_output_bytes.unwrap_or(0),
        };
        cluster_client::tasks::exec(index, exec)
    }
}

/// The command's status and output, from a result either way it ended.
fn exec_of(result: &TaskResult) -> Option<&ExecOutput> {
    match &result.outcome {
        Some(task_result::Outcome::Output(out)) => match &out.value {
            Some(task_output::Value::Exec(exec)) => Some(exec),
            _ => None,
        },
        Some(task_result::Outcome::Error(err)) => err.exec.as_ref(),
        None => None,
    }
}

fn failure(result: &TaskResult) -> Option<String> {
    match &result.outcome {
        Some(task_result::Outcome::Output(_)) => None,
        Some(task_result::Outcome::Error(err)) => Some(err.message.clone()),
        None => Some("the worker sent an empty result".into()),
    }
}

/// Prints results in input order as they become printable: each task's
/// stdout as is, its stderr lines prefixed with `[index] `, or one JSON
/// line per task.
pub(crate) struct Printer {
    inputs: Vec<String>,
    json: bool,
    next: usize,
    waiting: BTreeMap<usize, TaskResult>,
}

impl Printer {
    pub(crate) fn new(inputs: Vec<String>, json: bool) -> Self {
        Self { inputs, json, next: 0, waiting: BTreeMap::new() }
    }

    pub(crate) fn add(&mut self, result: TaskResult) {
        self.waiting.insert(result.id as usize, result);
        while let Some(result) = self.waiting.remove(&self.next) {
            self.print(self.next, &result);
            self.next += 1;
        }
    }

    fn print(&self, index: usize, result: &TaskResult) {
        let input = self.inputs.get(index).map_or("", String::as_str);
        if self.json {
            println!("{}", json_line(index, input, result));
            return;
        }
        let exec = exec_of(result);
        if let Some(exec) = exec {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&exec.stdout);
            let _ = stdout.flush();
            let stderr = String::from_utf8_lossy(&exec.stderr);
            for line in stderr.lines() {
                eprintln!("[{index}] {line}");
            }
        }
        if let Some(message) = failure(result) {
            eprintln!("[{index}] failed (input {input:?}): {message}");
        }
    }

    /// Results never received, in input order: the job ended without them.
    pub(crate) fn finish(&mut self) {
        for index in self.next..self.inputs.len() {
            match self.waiting.remove(&index) {
                Some(result) => self.print(index, &result),
                None if self.json => println!(
                    "{}",
                    json!({ "index": index, "input": self.inputs[index], "error": "no result" })
                ),
                None => eprintln!("[{index}] got no result"),
            }
        }
        self.next = self.inputs.len();
    }
}

/// One task as JSON: its status, its output (UTF-8, else base64), where
/// and how long it ran.
fn json_line(index: usize, input: &str, result: &TaskResult) -> Value {
    let mut line = json!({ "index": index, "input": input });
    if let Some(exec) = exec_of(result) {
        if exec.signal != 0 {
            line["signal"] = json!(exec.signal);
        } else {
            line["exit_code"] = json!(exec.exit_code);
        }
        put_bytes(&mut line, "stdout", &exec.stdout);
        put_bytes(&mut line, "stderr", &exec.stderr);
        line["truncated"] = json!(exec.stdout_truncated || exec.stderr_truncated);
    }
    if let Some(message) = failure(result) {
        line["error"] = json!(message);
        if let Some(task_result::Outcome::Error(err)) = &result.outcome {
            let code =
                cluster_proto::ErrorCode::try_from(err.code).unwrap_or(cluster_proto::ErrorCode::Unspecified);
            line["code"] = json!(code.as_str_name());
        }
    }
    line["worker"] = json!(result.worker);
    line["millis"] = json!(result.run_micros as f64 / 1000.0);
    line["attempts"] = json!(result.attempts);
    line
}

/// `name` as a string when the bytes are UTF-8, else `name_b64`.
fn put_bytes(line: &mut Value, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => line[name] = json!(text),
        Err(_) => {
            line[format!("{name}_b64")] = json!(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        template: Template,
    }

    fn template(args: &[&str]) -> Template {
        Cli::parse_from(std::iter::once("exec").chain(args.iter().copied())).template
    }

    fn exec_input(task: Task) -> ExecInput {
        match task.input {
            Some(cluster_proto::task::Input::Exec(exec)) => exec,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inputs_fill_arguments_whole_or_go_to_stdin() {
        let t = template(&["--", "echo", "{#}:{}", "x{}"]);
        let exec = exec_input(t.task(3, "a b; $c"));
        assert_eq!(exec.argv, ["echo", "3:a b; $c", "xa b; $c"]);
        assert!(exec.stdin.is_empty());
        let t = template(&["--env", "K=V", "--", "wc", "-c"]);
        let exec = exec_input(t.task(0, "four"));
        assert_eq!((exec.argv, &exec.stdin[..]), (vec!["wc".to_string(), "-c".to_string()], &b"four\n"[..]));
        assert_eq!(exec.env.get("K").map(String::as_str), Some("V"));
    }

    #[test]
    fn under_the_shell_inputs_are_quoted() {
        let t = template(&["--shell", "--", "echo {} | wc -c"]);
        let exec = exec_input(t.task(0, "it's; rm -rf /"));
        assert_eq!(exec.argv, ["sh", "-c", "echo 'it'\\''s; rm -rf /' | wc -c"]);
    }

    #[test]
    fn ranges_parse_and_bad_ones_say_why() {
        assert_eq!(parse_range("1-100"), Ok((1, 100)));
        assert_eq!(parse_range("5"), Err("`5` is not a range like 1-100".into()));
        assert_eq!(parse_range("9-2"), Err("`9-2`: the range's first number is above its last".into()));
    }

    #[test]
    fn json_lines_carry_status_output_and_base64_for_binary() {
        let exec = ExecOutput {
            exit_code: 0,
            stdout: vec![0xff, 0xfe].into(),
            stderr: "warn\n".into(),
            stdout_truncated: true,
            ..ExecOutput::default()
        };
        let output = cluster_proto::TaskOutput { value: Some(task_output::Value::Exec(exec)) };
        let result = TaskResult {
            id: 0,
            outcome: Some(task_result::Outcome::Output(output)),
            worker: "w1".into(),
            run_micros: 1500,
            attempts: 1,
        };
        let line = json_line(0, "in", &result);
        assert_eq!(
            line,
            json!({"index": 0, "input": "in", "exit_code": 0, "stdout_b64": "//4=", "stderr": "warn\n",
                   "truncated": true, "worker": "w1", "millis": 1.5, "attempts": 1})
        );
    }
}
