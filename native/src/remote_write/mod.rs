//! The protocols on the wire: their messages (remote write 1.0's [`proto`], 2.0's
//! [`v2_proto`], OTLP's [`otlp_proto`]), the request encoders that write the core's model
//! ([`crate::sample`]) as those messages (1.0: [`encode`], 2.0: [`encode_v2`], protobuf +
//! snappy; OTLP: [`encode_otlp`], protobuf + gzip), which message a receiver takes
//! ([`negotiate`]), and the HTTP client. Only this edge knows a wire format.

pub mod client;
pub mod encode;
pub mod encode_otlp;
pub mod encode_v2;
pub mod encoders;
mod groups;
pub mod hints;
pub mod negotiate;
pub mod otlp_proto;
pub mod proto;
pub mod proxy;
pub mod tls;
pub mod v2_proto;
