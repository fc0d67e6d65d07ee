//! Progress of a long command (`headcount report`, `headcount seed`): a bar
//! on a terminal (indicatif), plain lines on stderr every few seconds
//! otherwise, so logs of scripted runs stay readable.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    what: String,
    total: u64,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl Progress {
    /// Progress of `what` towards `total` units.
    pub fn new(what: impl Into<String>, total: u64) -> Self {
        let what = what.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total.max(1));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix}: [{bar:40}] {percent:>3}% {msg} ({elapsed})",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(what.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            what,
            total,
            bar,
            last_line: None,
        }
    }

    /// `done` units so far; `message` says what they are.
    pub fn set(&mut self, done: u64, message: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(message());
            }
            None if self.last_line.is_none_or(|at| at.elapsed() >= LINE_EVERY) => {
                self.line(done, &message());
            }
            None => {}
        }
    }

    /// The end: the bar completes, or a last plain line.
    pub fn finish(mut self, done: u64, message: &str) {
        match self.bar.take() {
            Some(bar) => {
                bar.set_position(done);
                bar.finish_with_message(message.to_owned());
            }
            None => self.line(done, message),
        }
    }

    fn line(&mut self, done: u64, message: &str) {
        let percent = if self.total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total as f64
        };
        eprintln!("{}: {percent:.0}% {message}", self.what);
        self.last_line = Some(Instant::now());
    }
}
