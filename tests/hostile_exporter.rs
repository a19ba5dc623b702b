//! The standing hostile-peer suite for readings-exporter (issue 19).
