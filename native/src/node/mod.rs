//! Node, container and process statistics, read from `/proc` and `/sys` inside the JVM, with
//! node_exporter's, cAdvisor's and the client libraries' names, so existing dashboards work.
//!
//! Every reader takes the filesystem root (`/` in production, a fixture tree in tests) and keeps
//! reading apart from parsing: each `parse_*` function takes the file's text. One thread per JVM
//! ([`thread`]) collects on a period and hands the statistics to every sink that wants them ([`series`] makes them series).

pub mod cgroup;
pub mod filesystem;
pub mod pressure;
pub mod process;
pub mod procfs;
pub mod series;
pub mod sources;
pub mod stat;
pub mod thread;

use std::path::Path;

use stat::Stat;

/// Everything there is to read under `root`: the node, its cgroup and this process (`self`).
pub fn collect(root: &Path, out: &mut Vec<Stat>) {
    procfs::collect(root, out);
    pressure::collect_host(root, out);
    filesystem::collect(root, out);
    cgroup::collect(root, out);
    process::collect(root, out);
}

// Last: the layout test reads a file's code up to its first `#[cfg(test)]`.
#[cfg(test)]
mod reference;
