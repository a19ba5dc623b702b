//! Integration tests: one test binary, a module per tool (style.md §5).

mod bms_sim;
mod common;
mod eflex_candump_decode;
mod eg4_7e_query;
mod faults;
mod generated;
mod lp4_poll;
mod mqtt_delivery;
mod readings_to_mqtt;
mod recipes;
mod rtu_sniff;
mod units;
