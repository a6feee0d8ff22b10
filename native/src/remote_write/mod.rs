//! The remote_write 1.0 protocol on the wire: its messages ([`proto`]), the request encoder
//! (protobuf + snappy) that writes the core's model ([`crate::sample`]) as those messages, and
//! the HTTP client. Only this edge knows the wire format.

pub mod client;
pub mod encode;
pub mod hints;
pub mod proto;
pub mod proxy;
pub mod tls;
