//! The bar jmk draws on stderr, when that is a terminal, while a tarball
//! is unpacked or a tree copied.

use std::io::{self, IsTerminal};

use jkit::ops::Progress;

/// A progress bar on stderr, redrawn in place as the percentage changes.
#[derive(Debug)]
pub struct Bar {
    /// Whether stderr is a terminal: nothing is drawn otherwise.
    shown: bool,
    /// Whether an unpacking of known size has begun, and so owns the line.
    begun: bool,
    /// The percentage drawn last.
    drawn: Option<u64>,
    /// What the bar shows the progress of.
    label: &'static str,
}

impl Bar {
    /// A bar that draws only when stderr is a terminal.
    pub fn on_stderr() -> Self {
        Self::labelled("extracting")
    }

    /// A bar for what `label` names (a download), drawn only when stderr is
    /// a terminal.
    pub fn labelled(label: &'static str) -> Self {
        Bar {
            shown: io::stderr().is_terminal(),
            begun: false,
            drawn: None,
            label,
        }
    }

    /// Take a report of the unpacking: the bar appears once bytes have
    /// gone through, and is redrawn when the percentage changes.
    pub fn update(&mut self, p: Progress) {
        if !self.shown || p.total == 0 {
            return;
        }
        self.begun = true;
        if p.done == 0 {
            return;
        }
        let pct = p.done * 100 / p.total;
        if self.drawn != Some(pct) {
            self.drawn = Some(pct);
            draw(self.label, pct, p.done, p.total);
        }
    }

    /// End the bar's line, once an unpacking has begun (ended well or not).
    pub fn finish(self) {
        if self.begun {
            eprintln!();
        }
    }
}

fn draw(label: &str, pct: u64, done: u64, total: u64) {
    const WIDTH: u64 = 30;
    // A tarball that grows while it is read goes past 100%.
    let filled = (pct.min(100) * WIDTH / 100) as usize;
    let bar = format!(
        "{}{}",
        "#".repeat(filled),
        " ".repeat(WIDTH as usize - filled)
    );
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprint!(
        "\r{label} [{bar}] {pct:3}% {:.1}/{:.1} MiB",
        mib(done),
        mib(total)
    );
}
