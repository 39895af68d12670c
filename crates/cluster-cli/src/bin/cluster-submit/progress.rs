//! The progress bar a run shows on a terminal.

/// A progress bar on stderr, shown only when stderr is a terminal (so
/// pipes and `--json` consumers see nothing of it).
pub(crate) fn progress_bar(count: u64) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(count);
    // The message holds "N failed, " once a task fails.
    let template = "{bar:40} {pos}/{len} tasks, {msg}{rate} tasks/s, {elapsed_precise}, ETA {eta}";
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}", state.per_sec());
        };
        bar.set_style(style.with_key("rate", rate));
    }
    bar
}
