//! The remote_write 1.0 protocol: messages, the request encoder and the HTTP client.

pub mod client;
pub mod encode;
pub mod proto;
