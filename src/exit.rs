//! The exit-code table of the readings contract and the `main` every tool shares.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; for one-shot polls: every device answered |
//! | 1 | finished, but some device did not answer or some input was skipped |
//! | 2 | usage or configuration error: retrying won't help (clap's own code) |
//! | 75 | a device or the broker is unavailable: retry later (EX_TEMPFAIL) |
//!
//! systemd units use `RestartPreventExitStatus=2` so a bad config is not restarted forever.

use crate::ndjson::StdoutClosed;
use clap::Parser;
use std::fmt;
use std::io::Write;

/// Exit statuses of every tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Partial = 1,
    Usage = 2,
    Unavailable = 75,
}

/// An error that carries the exit status it must end the tool with.
#[derive(Debug)]
pub struct Fatal {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fatal {}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Fatal {
        exit: Exit::Usage,
        message: message.into(),
    }
    .into()
}

/// A device or broker that is not there (exit 75).
pub fn unavailable(message: impl Into<String>) -> anyhow::Error {
    Fatal {
        exit: Exit::Unavailable,
        message: message.into(),
    }
    .into()
}

/// The exit status an error ends the tool with: 0 for a closed stdout, the code of a
/// [`Fatal`] anywhere in the chain, else 1.
pub fn classify(err: &anyhow::Error) -> Exit {
    if err.chain().any(|e| e.is::<StdoutClosed>()) {
        return Exit::Ok;
    }
    err.chain()
        .find_map(|e| e.downcast_ref::<Fatal>().map(|f| f.exit))
        .unwrap_or(Exit::Partial)
}

/// The shared `main`: parses arguments (clap exits 2 on usage errors, 0 for --help and
/// --version), runs the tool, prints an error GNU-style (`tool: context: cause`) and exits
/// with the table's status. A closed stdout ends quietly with 0.
pub fn main<A: Parser>(run: fn(A) -> anyhow::Result<Exit>) -> ! {
    let args = A::parse();
    let code = match run(args) {
        Ok(exit) => exit,
        Err(err) => {
            let exit = classify(&err);
            if exit != Exit::Ok {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{}: {err:#}", crate::log::tool_name());
            }
            exit
        }
    };
    std::process::exit(code as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn classifies_errors() {
        assert_eq!(classify(&anyhow::anyhow!("plain")), Exit::Partial);
        assert_eq!(classify(&usage("bad flag")), Exit::Usage);
        let e = Err::<(), _>(unavailable("no port"))
            .context("opening /dev/x")
            .unwrap_err();
        assert_eq!(classify(&e), Exit::Unavailable);
        let e = anyhow::Error::new(StdoutClosed).context("writing");
        assert_eq!(classify(&e), Exit::Ok);
    }
}
