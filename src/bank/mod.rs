//! readings-bank's library side, all sans-I/O except the state file:
//! - [`aggregate`]: the bank: several packs as one battery;
//! - [`energy`]: the per-device energy integrator (trapezoid over the readings' ts);
//! - [`input`]: one input line classified and summarised without building a JSON tree;
//! - [`state`]: the locked, atomically written state file.

pub mod aggregate;
pub mod energy;
pub mod input;
pub mod state;
