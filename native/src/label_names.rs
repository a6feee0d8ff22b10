//! Every label name sparkprom's own series can carry, declared once. Producers cannot spell a
//! label name of their own: a series' labels are [`LabelName`]s, and the only ones that exist are
//! declared here, so a new family that needs a new label adds it to this list, and the list the
//! user's `labels` are checked against (config.rs) can never miss it. Remote write refuses a
//! series with one label name twice (Prometheus answers 500 and stores nothing of the request), so
//! the user's labels and ours must never meet.
//!
//! `job` and `instance` as users write them are Prometheus' own conventions ("what produced this",
//! set in scrape configs and external labels): `job` is not among ours, so a user's `labels=job=...`
//! is theirs alone. `instance` is ours (the node of node statistics, a daemon's host).

/// A label name of sparkprom's own series: only the constants below exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelName(&'static str);

impl LabelName {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl PartialEq<&str> for LabelName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for LabelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Declares each label name as a constant and lists them all in [`ALL`] from one list, so a
/// constant cannot exist without being listed.
macro_rules! label_names {
    ($($(#[$doc:meta])* $constant:ident = $name:literal,)*) => {
        $($(#[$doc])* pub const $constant: LabelName = LabelName($name);)*
        /// Every label name sparkprom's series can carry.
        pub const ALL: &[LabelName] = &[$($constant),*];
    };
}

label_names! {
    // Who sent it (labels.rs): every series.
    /// The sink's role: driver, executor, or the standalone daemon it serves.
    ROLE = "role",
    APP_ID = "app_id",
    APP_NAME = "app_name",
    EXECUTOR_ID = "executor_id",
    /// The node of node statistics; a JVM without an executor id's host.
    INSTANCE = "instance",
    /// A JVM without an executor id (a standalone daemon): with `instance`, who it is.
    PID = "pid",
    // Parts of Spark's names (spark_names.rs).
    /// A summary's quantile (Dropwizard histograms and timers).
    QUANTILE = "quantile",
    LISTENER = "listener",
    QUEUE = "queue",
    /// A Structured Streaming query (its name, else its id): Spark's names and the listener's.
    QUERY = "query",
    POOL = "pool",
    APPLICATION = "application",
    APPLICATION_START_TIME = "application_start_time",
    // The driver's listener (signals.rs).
    /// Spark's job key (job group, description or call site); not `job`, Prometheus' own label.
    SPARK_JOB = "spark_job",
    STAGE = "stage",
    OUTCOME = "outcome",
    /// Why: a task's failure, an executor's removal, a sample not delivered.
    REASON = "reason",
    PHASE = "phase",
    OPERATOR = "operator",
    /// A streaming query's source; a node-statistics source in self-metrics.
    SOURCE = "source",
    /// The listener label a folded key belonged to.
    LABEL = "label",
    /// What a listener count of live state holds (jobs, stages).
    KIND = "kind",
    /// A histogram bucket's upper bound.
    LE = "le",
    // Self-metrics (self_metrics.rs).
    FIELD = "field",
    // Node, container and process statistics (node/).
    CPU = "cpu",
    MODE = "mode",
    DEVICE = "device",
    FSTYPE = "fstype",
    MOUNTPOINT = "mountpoint",
    EVENT = "event",
    /// A pod's network interface (node_exporter's `device`, in cAdvisor's name).
    INTERFACE = "interface",
}

/// Whether `name` is one of sparkprom's own label names.
pub fn is_ours(name: &str) -> bool {
    ALL.iter().any(|l| l.0 == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_valid_label_name_and_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for name in ALL {
            assert!(crate::naming::is_valid_label_name(name.0), "{name}");
            assert!(!name.0.starts_with("__"), "{name}");
            assert!(seen.insert(name.0), "{name} is listed twice");
        }
        // Prometheus' conventional labels as users set them stay theirs.
        assert!(!is_ours("job") && !is_ours("cluster") && !is_ours("team") && !is_ours("env"));
    }
}
