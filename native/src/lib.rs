//! sparkprom's native core: the part of the Spark metrics sink that runs inside every driver and
//! executor JVM, behind the Java class `io.sparkprom.RemoteWriteSink`.
//!
//! The Java side packs one registry snapshot into a direct buffer and hands it over in one JNI
//! call ([`jni`]). From there the path is a chain with one module per step:
//! [`snapshot`] decodes the buffer, [`series`] turns Spark names into Prometheus series with the
//! JVM's identity labels, [`queue`] holds samples within a fixed capacity, [`sender`] batches them
//! and [`remote_write`] encodes, compresses and POSTs them.

pub mod auth;
pub mod claims;
pub mod config;
pub mod jni;
pub mod logging;
pub mod naming;
pub mod node;
pub mod queue;
pub mod remote_write;
pub mod self_metrics;
pub mod sender;
pub mod series;
pub mod sink;
pub mod snapshot;
pub mod spark_names;
pub mod textfile;

/// The core's version; the Java side compares it with its own at load time.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
