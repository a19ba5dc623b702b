//! Time-series outputs (issue 16): InfluxDB line protocol, the Prometheus exposition, the
//! delivery state machine of the HTTP writer and the Grafana dashboards. Everything here is
//! pure (no sockets, no clocks read): the tools `readings-to-influx` and `readings-exporter`
//! own the I/O and drive these modules.
//!
//! - [`line`]: a reading → one line of InfluxDB line protocol;
//! - [`outbox`]: batching, bounded buffer, drops and retries of the HTTP writer, as events;
//! - [`http`]: HTTP/1.1 requests and responses as bytes, and a small blocking client;
//! - [`expo`]: the newest reading per device → the Prometheus text exposition;
//! - [`grafana`]: dashboards for both, generated from the field catalogue.

pub mod expo;
pub mod grafana;
pub mod http;
pub mod line;
pub mod outbox;
