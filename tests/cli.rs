//! Integration tests: one test binary, a module per tool (style.md §5).

mod bms_sim;
mod common;
mod generated;
mod lp4_poll;
