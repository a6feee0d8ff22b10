//! sparkprom's native core: the part of the Spark metrics sink that runs inside every driver and
//! executor JVM, behind the Java class `io.sparkprom.RemoteWriteSink`.
//!
//! The Java side packs one registry snapshot into a direct buffer and hands it over in one JNI
//! call. From there data crosses one module per step, in this order:
//! [`jni`] (the boundary) → [`sink`] (start, submit, close) → [`ingest`] (the ingest thread:
//! [`snapshot`] decodes, [`spark_series`] maps names to series using [`spark_names`], [`identity`] and
//! [`labels`]; [`self_metrics`], [`node`] and [`signals`] add theirs, each keeping its series in a
//! [`series_set`]) → [`queue`] (bounded, with
//! [`metadata`] beside it) → [`sender`] (the sender thread) → [`remote_write`] (encode, HTTP)
//! with [`auth`]. Shared below them: [`sample`] (the data model),
//! [`config`], [`stats`], [`claims`], [`naming`], [`http`], [`threads`], [`logging`].

pub mod auth;
pub mod check;
pub mod claims;
pub mod config;
pub mod http;
pub mod identity;
pub mod ingest;
pub mod jni;
pub mod label_names;
pub mod labels;
pub mod logging;
pub mod metadata;
pub mod naming;
pub mod node;
pub mod queue;
pub mod remote_write;
pub mod sample;
pub mod self_metrics;
pub mod sender;
pub mod series_set;
pub mod signals;
pub mod sink;
pub mod snapshot;
pub mod spark_names;
pub mod spark_series;
pub mod stats;
pub mod textfile;
pub mod threads;
pub mod trim;

/// The core's version; the Java side compares it with its own at load time.
pub const VERSION: &str = env!("SPARKPROM_BUILD_VERSION");
