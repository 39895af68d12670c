//! Duration flags: `500ms`, `5s`, `2m`, `1h 30m` (humantime), or a plain
//! number of milliseconds, so the `*-ms` flags keep their old meaning.

use std::time::Duration;

/// Parses a duration flag into milliseconds.
///
/// ```
/// use cluster_cli::duration::millis;
/// assert_eq!(millis("1500"), Ok(1500));
/// assert_eq!(millis("500ms"), Ok(500));
/// assert_eq!(millis("5s"), Ok(5000));
/// assert_eq!(millis("2m"), Ok(120_000));
/// assert!(millis("5 parsecs").is_err());
/// ```
pub fn millis(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    humantime::parse_duration(text)
        .map(|d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|e| format!("`{text}` is not a duration ({e}): give e.g. 500ms, 5s, 2m, or milliseconds"))
}

/// As [`millis`], at least 1 ms.
pub fn positive_millis(text: &str) -> Result<u64, String> {
    match millis(text)? {
        0 => Err("must be at least 1 ms".into()),
        ms => Ok(ms),
    }
}
