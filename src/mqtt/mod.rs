//! MQTT without sockets: what readings-to-mqtt publishes, decided by a state machine driven by
//! events (style.md §19). The tool owns the threads, the clock and the rumqttc client and only
//! hands [`bridge::Bridge`]'s transmits on; everything about delivery (the per-reading queue,
//! its bound and its drops, state conflation, discovery and availability, re-sending after a
//! reconnect) lives here and is tested without a broker.

pub mod bridge;
pub mod head;

pub use bridge::{Bridge, Config, Stats, Transmit};
