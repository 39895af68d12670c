//! The scheduler and the actor speak only the coordinator's own types: no
//! gRPC status, no proto message and no `String` error below the link and
//! service layer. This test reads their sources and fails if one appears.

use std::path::Path;

/// Crates of the wire: naming any of them below the edge is a leak.
const WIRE_CRATES: [&str; 3] = ["tonic", "cluster_proto", "prost"];

/// What is wrong with a line of code, if anything.
fn leak(code: &str) -> Option<&'static str> {
    if let Some(name) = WIRE_CRATES.iter().find(|name| code.contains(*name)) {
        return Some(name);
    }
    // `Result<T, String>`: an error nobody can match on.
    let string_error = code.split("Result<").skip(1).any(|rest| rest.contains(", String>"));
    string_error.then_some("a String error")
}

fn check_dir(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            check_dir(&path, found);
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source file");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if let Some(what) = leak(code) {
                found.push(format!("{}:{}: {what} in: {}", path.display(), number + 1, line.trim()));
            }
        }
    }
}

#[test]
fn no_wire_types_or_string_errors_below_the_edge() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for layer in ["sched", "actor"] {
        check_dir(&src.join(layer), &mut found);
    }
    assert!(found.is_empty(), "wire types below the edge:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_what_it_must() {
    assert_eq!(leak("use tonic::Status;"), Some("tonic"));
    assert_eq!(leak("fn f(t: cluster_proto::Task) {}"), Some("cluster_proto"));
    assert_eq!(leak("fn f() -> Result<u32, String> {"), Some("a String error"));
    assert_eq!(leak("labels: BTreeMap<String, String>,"), None);
    assert_eq!(leak("fn status(&self) -> StatusReport {"), None);
}
