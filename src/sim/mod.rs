//! Simulated packs for `bms-sim`: plausible, slowly drifting values encoded the way real
//! packs send them, so every tool can be tried and tested without hardware.

pub mod daly;
pub mod eflex;
pub mod eg4_7e;
pub mod jbd;
pub mod jk;
pub mod jkpb;
pub mod lp4;
pub mod pace;
pub mod pylon;
pub mod pylon_ascii;
pub mod pylontech;
pub mod seplos;
pub mod seplos3;

use std::time::Instant;

/// A simulated bus slave: bytes from the master in, replies out.
pub trait Responder {
    /// Feeds received bytes; returns the replies to send, in order.
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>>;

    /// The same reply as if the pack at the next address had sent it (valid checksum), for
    /// `--foreign-every`; `None` if `reply` is not a frame this responder makes.
    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>>;

    /// Frames received since the last call that were not reads of the family's allow-list
    /// (writes above all), so the simulator can report them: no tool may ever send one.
    fn refused(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

/// The address a `--foreign-every` reply claims: the next one (1 after 255).
pub fn next_address(a: u8) -> u8 {
    a.checked_add(1).unwrap_or(1)
}

/// A small deterministic generator (xorshift64*), so a pack's quirks depend on its address.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}
