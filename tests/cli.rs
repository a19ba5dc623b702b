//! Integration tests: one test binary, a module per tool (style.md §5).

mod bms_poll;
mod bms_sim;
mod captures;
mod common;
mod docs;
mod eflex_candump_decode;
mod eg4_7e_query;
mod engine;
mod faults;
mod gateway;
mod generated;
mod hostile_consumers;
mod hostile_exporter;
mod hostile_influx;
mod hostile_mqtt;
mod lp4_poll;
mod mqtt_delivery;
mod peers;
mod pylon_candump_decode;
mod readings_bank;
mod readings_exporter;
mod readings_to_influx;
mod readings_to_mqtt;
mod recipes;
mod rtu_sniff;
mod units;
