//! One module per binary: `Args` (clap derive) and `run`. The binaries in src/bin only hand
//! these to [`crate::exit::main`]. [`commands`] is the registry of every tool's command: man
//! pages, completions and the docs test are generated from it. A new tool adds its module
//! here and one line to [`commands`].

use clap::CommandFactory;

pub mod bms_poll;
pub mod bms_sim;
pub mod eflex_candump_decode;
pub mod eg4_7e_query;
pub mod lp4_poll;
pub mod pylon_candump_decode;
pub mod readings_bank;
pub mod readings_exporter;
pub mod readings_to_influx;
pub mod readings_to_mqtt;
pub mod rtu_sniff;

/// Every tool's clap command, for man pages, completions and the docs test.
pub fn commands() -> Vec<clap::Command> {
    vec![
        lp4_poll::Args::command(),
        eg4_7e_query::Args::command(),
        eflex_candump_decode::Args::command(),
        rtu_sniff::Args::command(),
        readings_to_mqtt::Args::command(),
        bms_sim::Args::command(),
        pylon_candump_decode::Args::command(),
        readings_bank::Args::command(),
        readings_to_influx::Args::command(),
        readings_exporter::Args::command(),
        bms_poll::Args::command(),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn commands_are_well_formed() {
        for cmd in super::commands() {
            cmd.debug_assert();
        }
    }
}
