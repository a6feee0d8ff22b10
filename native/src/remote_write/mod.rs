//! The remote_write protocols on the wire: their messages (1.0's [`proto`], 2.0's
//! [`v2_proto`]), the request encoders (protobuf + snappy) that write the core's model
//! ([`crate::sample`]) as those messages (1.0: [`encode`], 2.0: [`encode_v2`]), which version a
//! receiver takes ([`negotiate`]), and the HTTP client. Only this edge knows a wire format.

pub mod client;
pub mod encode;
pub mod encode_v2;
mod groups;
pub mod hints;
pub mod negotiate;
pub mod proto;
pub mod proxy;
pub mod tls;
pub mod v2_proto;
