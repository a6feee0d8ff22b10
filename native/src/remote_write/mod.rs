//! The remote_write protocols on the wire: the request encoders (protobuf + snappy) for 1.0
//! (encode; its messages are in [`crate::proto`], shared with every stage) and 2.0 (encode_v2,
//! v2_proto), and the HTTP client.

pub mod client;
pub mod encode;
pub mod encode_v2;
mod groups;
pub mod hints;
pub mod negotiate;
pub mod proxy;
pub mod tls;
pub mod v2_proto;
pub use crate::proto;
