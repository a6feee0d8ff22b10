//! What the readers of `/proc` and `/sys` make: a statistic ([`Stat`]) of a `'static` family
//! ([`NodeFamily`], declared with [`family!`]), and the one way they read a file ([`read`]).

use std::path::Path;

use crate::label_names::LabelName;
use crate::sample::MetricType;

/// What a statistic describes, which decides how its series are keyed (`node/series.rs`). In a
/// Kubernetes pod these differ: the kernel's counters are the node's, `/proc/net/dev` is the
/// pod's network namespace, the mounts and the cgroup are the container's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The whole host: the same figures from any JVM or container on it.
    Host,
    /// The network namespace this JVM sees: the pod's in Kubernetes, the host's elsewhere.
    Network,
    /// The container: its mounts and its cgroup.
    Container,
    /// This JVM's process.
    Process,
}

/// A metric family of node statistics; `'static` so statistics are cheap to make every period.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NodeFamily {
    pub name: &'static str,
    pub metric_type: MetricType,
    pub help: &'static str,
    pub unit: &'static str,
    pub scope: Scope,
}

/// One statistic read from `/proc` or `/sys`: a family, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    pub family: &'static NodeFamily,
    pub labels: Vec<(LabelName, String)>,
    pub value: f64,
}

impl Stat {
    pub fn new(family: &'static NodeFamily, value: f64) -> Stat {
        Stat {
            family,
            labels: Vec::new(),
            value,
        }
    }

    pub fn with(mut self, name: LabelName, value: impl Into<String>) -> Stat {
        self.labels.push((name, value.into()));
        self
    }
}

macro_rules! family {
    ($scope:ident, $ident:ident, $name:literal, $kind:ident, $unit:literal, $help:literal) => {
        pub static $ident: $crate::node::stat::NodeFamily = $crate::node::stat::NodeFamily {
            name: $name,
            metric_type: $crate::sample::MetricType::$kind,
            help: $help,
            unit: $unit,
            scope: $crate::node::stat::Scope::$scope,
        };
    };
}
pub(crate) use family;

/// Reads one file below `root` (`rel` without a leading slash); None when it is missing or
/// unreadable, as many are on some kernels and in some containers.
pub fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}
