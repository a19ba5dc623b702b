//! bms-sim: simulated battery packs, so the toolkit can be tried and tested without hardware.

use crate::cli::{addresses, Addresses, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::pty::Pty;
use crate::sim::lp4::{Misbehaviour, PackModel, Slave};
use anyhow::Context;
use clap::Subcommand;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # Two LifePower4 packs behind a pseudo-terminal; the first stdout line is its path
  bms-sim lp4 --address 1,2
  # ... with a stable name, polled like a real adapter
  bms-sim lp4 --address 1,2 --link /tmp/lp4 &
  lp4-poll --address 1,2 --interval 2s /tmp/lp4

  # A pack that never answers, damaged CRCs, a warning bit, real 9600-baud timing
  bms-sim lp4 --address 1,2,3 --silent 3 --bad-crc-every 5 --fault 2:cell_ov --wire-baud 9600";

/// Simulate battery management systems for the bmstap tools.
#[derive(Debug, clap::Parser)]
#[command(name = "bms-sim", version, after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub sim: Sim,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Subcommand)]
pub enum Sim {
    /// EG4 LifePower4 v2 packs answering Modbus RTU on a pseudo-terminal
    #[command(
        after_help = "The pseudo-terminal's path is printed on the first stdout line. \
The packs answer fn 0x03 reads of registers 0-135 (status, settings, identity); \
other ranges get exception 02, other functions exception 01."
    )]
    Lp4(Lp4Args),
}

#[derive(Debug, clap::Args)]
pub struct Lp4Args {
    /// Bus addresses of the simulated packs: 1,2,3 or 1-4
    #[arg(long, short = 'a', value_name = "ADDR[,ADDR...]", value_parser = addresses, default_value = "1")]
    pub address: Addresses,
    /// Address that never answers (repeatable)
    #[arg(long, value_name = "ADDR", value_parser = addresses)]
    pub silent: Vec<Addresses>,
    /// Damage the CRC of every Nth reply
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub bad_crc_every: Option<u64>,
    /// Set a warning/protection/error bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit
    #[arg(long, value_name = "[ADDR:]NAME")]
    pub fault: Vec<String>,
    /// Pace replies like a real line at this baud rate (default: as fast as possible)
    #[arg(long, value_name = "BAUD")]
    pub wire_baud: Option<u32>,
    /// Also make PATH a symlink to the pseudo-terminal (replaced if it exists)
    #[arg(long, value_name = "PATH")]
    pub link: Option<PathBuf>,
    /// Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal's number)
    #[arg(long, value_name = "TAG")]
    pub serial_tag: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    match args.sim {
        Sim::Lp4(a) => run_lp4(a),
    }
}

fn run_lp4(a: Lp4Args) -> anyhow::Result<Exit> {
    let pty =
        Pty::open().map_err(|e| unavailable(format!("cannot open a pseudo-terminal: {e}")))?;
    let tag = a.serial_tag.clone().unwrap_or_else(|| {
        pty.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let start = Instant::now();
    let mut packs: Vec<PackModel> = a
        .address
        .0
        .iter()
        .map(|&addr| PackModel::new(addr, format!("SIM-{tag}-{addr:02}"), start))
        .collect();
    for f in &a.fault {
        let (target, name) = match f.split_once(':') {
            Some((addr, name)) => {
                let addr: u8 = addr
                    .parse()
                    .map_err(|_| usage(format!("--fault {f}: bad address")))?;
                (Some(addr), name)
            }
            None => (None, f.as_str()),
        };
        for p in packs
            .iter_mut()
            .filter(|p| target.is_none_or(|t| t == p.address))
        {
            p.set_fault(name).map_err(usage)?;
        }
    }
    let misbehave = Misbehaviour {
        silent: a.silent.iter().flat_map(|s| s.0.iter().copied()).collect(),
        bad_crc_every: a.bad_crc_every,
    };
    if let Some(link) = &a.link {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&pty.path, link)
            .with_context(|| format!("creating symlink {}", link.display()))
            .map_err(|e| usage(format!("{e:#}")))?;
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", pty.path.display());
        let _ = out.flush();
    }
    log::info!(
        "simulating LP4 pack(s) at address {:?} on {}",
        a.address.0,
        pty.path.display()
    );
    let mut slave = Slave::new(std::mem::take(&mut packs), misbehave);
    let mut master = pty.master.try_clone().context("pty")?;
    let mut chunk = [0u8; 512];
    loop {
        let n = match master.read(&mut chunk) {
            Ok(0) => return Ok(Exit::Ok),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unavailable(format!("{}: {e}", pty.path.display()))),
        };
        crate::log::trace("sim", "<", &chunk[..n]);
        for reply in slave.feed(&chunk[..n], Instant::now()) {
            if let Some(baud) = a.wire_baud {
                // 10 bits per byte on an 8N1 line, plus a 3.5-character turnaround.
                let bits = (reply.len() as u64 + 4) * 10;
                std::thread::sleep(Duration::from_micros(
                    bits * 1_000_000 / u64::from(baud.max(1)),
                ));
            }
            crate::log::trace("sim", ">", &reply);
            master
                .write_all(&reply)
                .context("writing to the pseudo-terminal")?;
        }
    }
}
