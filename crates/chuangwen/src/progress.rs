//! Progress of long work: a bar on the terminal (`indicatif`), counters a
//! web page polls, or nothing.

use std::sync::atomic::{AtomicU64, Ordering};

/// Something that shows how far a piece of work has come.
pub trait Progress: Send + Sync {
    /// The amount of work in all.
    fn set_total(&self, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// A short description of the current step.
    fn step(&self, _message: &str) {}
}

/// No display at all.
pub struct Silent;

impl Progress for Silent {
    fn set_total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A bar on standard error; hidden when standard error is not a terminal.
pub struct TerminalBar(indicatif::ProgressBar);

impl TerminalBar {
    /// A new bar with a label, e.g. `生成演示区 / generating the demo district`.
    pub fn new(label: &str) -> TerminalBar {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:32}] {pos}/{len} {msg} ({elapsed})")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        TerminalBar(bar)
    }
    /// Ends the bar, leaving its last state on screen.
    pub fn finish(&self) {
        self.0.finish();
    }
}

impl Progress for TerminalBar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn step(&self, message: &str) {
        self.0.set_message(message.to_string());
    }
}

/// Plain counters, read by another task (the web import writes them to the
/// database for the page to poll).
#[derive(Default)]
pub struct Counters {
    /// Work in all.
    pub total: AtomicU64,
    /// Work done.
    pub done: AtomicU64,
}

impl Counters {
    /// `(done, total)`.
    pub fn get(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}

impl Progress for Counters {
    fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}
