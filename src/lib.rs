//! bmstap: read home-energy battery management systems and hand their telemetry on as NDJSON.
//!
//! Module map (style.md, house style):
//! - [`record`], [`catalog`]: the readings contract in code (record types, field catalogue);
//! - [`ndjson`]: the one record writer (flush per record, closed stdout ends quietly);
//! - [`exit`]: the exit-code table and the main wrapper every binary uses;
//! - [`cli`]: option groups shared by the tools;
//! - [`proto`]: pure codecs (no I/O);
//! - [`io`]: serial ports, pseudo-terminals, capture files;
//! - [`poll`]: the poll engine shared by the bus-master tools;
//! - [`bank`]: readings-bank's energy integrator, bank aggregator and state file;
//! - [`mqtt`]: the readings-to-MQTT bridge as a state machine (no threads, no sockets);
//! - [`sim`]: simulated packs for `bms-sim`;
//! - [`tools`]: one module per binary (`Args` + `run`) and the registry of every tool's
//!   command; `src/bin/*.rs` only call them.

pub mod bank;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod errlog;
pub mod exit;
pub mod family;
pub mod ha;
pub mod hexfmt;
pub mod io;
pub mod listen;
pub mod log;
pub mod mqtt;
pub mod ndjson;
pub mod poll;
pub mod proto;
pub mod record;
pub mod sim;
pub mod time;
pub mod tools;
pub mod tsdb;
