//! Device adapters: serial ports, pseudo-terminals, capture files. They move bytes and know
//! nothing of any payload; codecs in `proto` decide what the bytes mean.

pub mod can;
pub mod capture;
pub mod lines;
pub mod modbus;
pub mod net;
pub mod pty;
pub mod safefile;
pub mod serial;
