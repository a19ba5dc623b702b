//! Pure codecs: bytes in, frames and fields out. No device, clap or stdout in here, so every
//! codec is testable from testdata/ and fuzzable.

pub mod candump;
pub mod codec;
pub mod daly;
pub mod eflex;
pub mod hear;
pub mod jbd;
pub mod jk;
pub mod jkpb;
pub mod lp4;
pub mod mbap;
pub mod modbus;
pub mod pace;
pub mod pylon;
pub mod pylon_ascii;
pub mod pylontech;
pub mod rtu;
pub mod seplos;
pub mod seplos3;
pub mod tianpower;
