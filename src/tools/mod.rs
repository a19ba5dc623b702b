//! One module per binary: `Args` (clap derive) and `run`. The binaries in src/bin only hand
//! these to [`crate::exit::main`].

pub mod bms_sim;
pub mod eflex_candump_decode;
pub mod eg4_7e_query;
pub mod lp4_poll;
pub mod readings_to_mqtt;
pub mod rtu_sniff;
