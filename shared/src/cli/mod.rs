//! Glue shared by the binaries: turning a result into a message and an exit
//! status, and the stdout sink that ends quietly on a broken pipe.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use crate::error::{Error, Result};

/// Run a tool's body: on error print `tool: message` to stderr and exit
/// with the error's status; a broken pipe on stdout exits 0 quietly.
pub fn run(tool: &str, body: impl FnOnce() -> Result<u8>) -> ExitCode {
    match body() {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{tool}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Whether `e` is a write to a closed pipe (`tool | head -1`).
pub fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Os { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

/// Buffered stdout whose write errors become [`Error`]s.
#[derive(Debug)]
pub struct Output {
    out: BufWriter<io::Stdout>,
}

impl Default for Output {
    fn default() -> Self {
        Self::new()
    }
}

impl Output {
    /// Standard output, buffered.
    pub fn new() -> Self {
        Output {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }

    /// Write one line (a newline is added).
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(stdout_error)
    }

    /// Write `value` as one JSON line.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) -> Result<()> {
        crate::wire::write_line(&mut self.out, value)
    }

    /// Write raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(stdout_error)
    }

    /// Flush what is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(stdout_error)
    }
}

fn stdout_error(e: io::Error) -> Error {
    Error::os("write to stdout", e)
}

/// Whether stderr is a terminal (for progress output).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}
