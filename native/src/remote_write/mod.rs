//! The remote_write 1.0 protocol on the wire: the request encoder (protobuf + snappy) and the
//! HTTP client. The messages themselves are in [`crate::proto`], shared with every stage.

pub mod client;
pub mod encode;
pub mod hints;
pub mod proxy;
pub mod tls;
pub use crate::proto;
