//! One sink's label context, which every producer of its series (Spark names, self-metrics,
//! node statistics) borrows alike: the JVM's identity and platform labels, the sink's role, the
//! user's static labels and filters, the families made so far (for their metadata), and the
//! JVM-wide claim that no other sink of this JVM already pushes the same label set to the same
//! receiver.

use std::sync::Arc;

use crate::claims::{self, Producer, Release};
use crate::config::Filters;
use crate::identity::{self, Identity};
use crate::label_names::{self as names, LabelName};
use crate::metadata::FamilyLog;
use crate::sample::Label;
use crate::sample::{Family, Series};

/// One series of a family: a suffix to the family name (`_count`) and/or extra labels
/// (`quantile="0.5"`, `reason="queue_full"`).
pub struct Variant {
    pub suffix: &'static str,
    pub labels: Vec<(LabelName, String)>,
}

impl Variant {
    pub const PLAIN: Variant = Variant {
        suffix: "",
        labels: Vec::new(),
    };

    pub fn labelled(name: LabelName, value: impl Into<String>) -> Variant {
        Variant {
            suffix: "",
            labels: vec![(name, value.into())],
        }
    }

    pub fn suffixed(suffix: &'static str) -> Variant {
        Variant {
            suffix,
            labels: Vec::new(),
        }
    }
}

/// Why the label context made no series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user's include/exclude filters leave it out (decided by the producer).
    Filtered,
    /// Another sink of this JVM, or another name of this producer, exports that label set.
    Taken,
    /// A label name would appear twice.
    RepeatedLabel,
    /// Past the `maxSeries` budget.
    OverBudget,
}

/// The `maxSeries` budget of one sink, which the producers of its own series (the Spark names and
/// the driver listener's) share; self-metrics and node statistics are bounded by what they are.
/// Each owner's share comes back with its claim.
struct Budget {
    max: usize,
    held: std::cell::RefCell<std::collections::HashMap<(Producer, String), usize>>,
}

impl Budget {
    fn budgets(producer: Producer) -> bool {
        matches!(producer, Producer::SparkNames | Producer::Signals)
    }

    fn used(&self) -> usize {
        self.held.borrow().values().sum()
    }

    fn give_back(&self, sink_release: Release) {
        self.held
            .borrow_mut()
            .retain(|(producer, owner), _| match sink_release {
                Release::All => false,
                Release::Producer(p) => *producer != p,
                Release::Owner(p, o) => !(*producer == p && owner == o),
            });
    }
}

/// What a new identity changes (`SinkLabels::set_identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityChange {
    None,
    /// Only how Spark's names split (the namespace): no label set.
    NamesOnly,
    /// The labels every series carries.
    Labels,
}

impl IdentityChange {
    pub fn changed(self) -> bool {
        self != IdentityChange::None
    }
}

/// The labels of one sink's series, and its claims on them. Owned by the sink's ingest thread.
pub struct SinkLabels {
    sink_id: u64,
    url: String,
    static_labels: Vec<(String, String)>,
    filters: Filters,
    identity: Identity,
    /// The daemon this sink serves (`master`, `worker`, ...), learnt from its registry's names;
    /// "other" for a driver's or an executor's sink.
    daemon_role: &'static str,
    /// The host, for the `instance` of a JVM without an executor id (`node.instance`, else the
    /// kernel's host name: in a pod the pod's, which with `pid` tells daemons in pods apart).
    host: String,
    /// The node, for the `instance` of node statistics (`node::sources::Placement`).
    node: String,
    families: FamilyLog,
    budget: Budget,
    /// Series refused because a label name would appear twice (`refuse_repeated_label`).
    repeated_labels: std::cell::Cell<u64>,
}

impl SinkLabels {
    pub fn new(url: &str, static_labels: Vec<(String, String)>, filters: Filters) -> SinkLabels {
        SinkLabels {
            sink_id: claims::new_sink_id(),
            url: url.to_string(),
            static_labels,
            filters,
            identity: Identity::default(),
            daemon_role: "other",
            host: "unknown".to_string(),
            node: "unknown".to_string(),
            families: FamilyLog::default(),
            budget: Budget {
                max: usize::MAX,
                held: Default::default(),
            },
            repeated_labels: std::cell::Cell::new(0),
        }
    }

    /// At most `max` series of the producers the budget counts (`maxSeries`).
    pub fn with_budget(mut self, max: usize) -> SinkLabels {
        self.budget.max = max;
        self
    }

    /// Series the budgeted producers export now (`maxSeries` counts these).
    pub fn budget_used(&self) -> usize {
        self.budget.used()
    }

    /// The host the JVM runs on, for the `instance` label of a standalone daemon's series.
    pub fn on_host(mut self, host: String) -> SinkLabels {
        self.host = host;
        self
    }

    /// The node the JVM runs on, for the `instance` label of node statistics.
    pub fn on_node(mut self, node: String) -> SinkLabels {
        self.node = node;
        self
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Takes a new identity and says what it changes. When the labels it gives differ, every label
    /// set changes and all claims of the sink are given up: every producer must make its series
    /// again (`Ingest::relabel`, the one path that does). When only the namespace differs (the
    /// Java side corrected it from the registry's names), only how Spark's names split changes:
    /// no label set does, and no claim is given up.
    pub fn set_identity(&mut self, identity: Identity) -> IdentityChange {
        if identity == self.identity {
            return IdentityChange::None;
        }
        let labels_change = !self.identity.same_labels(&identity);
        self.identity = identity;
        if !labels_change {
            return IdentityChange::NamesOnly;
        }
        self.release(Release::All);
        IdentityChange::Labels
    }

    /// Notes a Spark name of the registry: a standalone daemon's names tell which one it is.
    pub fn learn_role_from(&mut self, spark_name: &str) {
        if let Some(role) = identity::daemon_role(spark_name) {
            self.daemon_role = role;
        }
    }

    /// The role of names without the driver/executor prefix: the daemon this sink serves.
    pub fn daemon_role(&self) -> &'static str {
        self.daemon_role
    }

    /// The role of this sink's own series: the daemon it serves, else the driver or an executor.
    pub fn sink_role(&self) -> &'static str {
        self.identity.sink_role(self.daemon_role)
    }

    /// Which identity fields this sink lacks; none for a standalone daemon, which has no app.
    pub fn missing_identity(&self) -> [bool; 4] {
        if self.daemon_role != "other" || self.identity.daemon {
            return [false; 4];
        }
        self.identity.missing()
    }

    /// Whether the user's include/exclude filters keep a metric.
    pub fn keeps(&self, spark_name: &str, exported: &str) -> bool {
        self.filters.keeps(spark_name, exported)
    }

    /// The families of every series made so far, for their metadata.
    pub fn families(&self) -> &FamilyLog {
        &self.families
    }

    /// The series of one family with this JVM's identity labels, the user's labels and `role`
    /// (None for what belongs to the JVM, not to one of its sinks); refused when another Spark
    /// name or sink of this JVM already exports them to this receiver, or past the budget.
    /// `producer` and `owner` name what exports them, for the claim, its share of the budget
    /// and its log line.
    pub fn series_for(
        &self,
        producer: Producer,
        family: &Arc<Family>,
        role: Option<&str>,
        variants: &[Variant],
        owner: &str,
    ) -> Result<Vec<Arc<Series>>, Refused> {
        let common = self.common_labels(producer, role);
        self.claim(common, producer, family, variants, owner)
    }

    /// The series of a host-wide node statistic: as `series_for(Producer::Node, ..)` but
    /// without the pod a Kubernetes JVM runs in (unless the user set `pod` themselves). The
    /// node's figures are the same from every pod on it: they are keyed by `instance`, the
    /// node, and the JVM's identity keeps each writer's series its own.
    pub fn host_series_for(
        &self,
        family: &Arc<Family>,
        variants: &[Variant],
        owner: &str,
    ) -> Result<Vec<Arc<Series>>, Refused> {
        let mut common = self.common_labels(Producer::Node, None);
        // A daemon (no executor id) keeps its pod: with `pid` it is what tells it from a daemon
        // in another pod on the node, whose pid may well be the same.
        let daemon = self.identity.executor_id.is_empty();
        if !daemon && !self.static_labels.iter().any(|(name, _)| name == "pod") {
            common.retain(|l| l.name != "pod");
        }
        self.claim(common, Producer::Node, family, variants, owner)
    }

    /// Makes the series of `variants` on `common` and claims them for this sink, within the
    /// budget for a producer it counts.
    fn claim(
        &self,
        common: Vec<Label>,
        producer: Producer,
        family: &Arc<Family>,
        variants: &[Variant],
        owner: &str,
    ) -> Result<Vec<Arc<Series>>, Refused> {
        let budgeted = Budget::budgets(producer);
        if budgeted && self.budget.used() + variants.len() > self.budget.max {
            return Err(Refused::OverBudget);
        }
        let mut shared = common.clone();
        shared.sort_by(|a, b| a.name.cmp(&b.name));
        let shared: Arc<[Label]> = shared.into();
        let list: Vec<Arc<Series>> = variants
            .iter()
            .map(|variant| {
                let mut labels = common.clone();
                labels.push(label(
                    "__name__",
                    &format!("{}{}", family.name, variant.suffix),
                ));
                for (name, value) in &variant.labels {
                    labels.push(label(name.as_str(), value));
                }
                Arc::new(Series::new(labels, Arc::clone(family)).sharing(Arc::clone(&shared)))
            })
            .collect();
        if let Some(repeated) = list.iter().find_map(|s| repeated_label(&s.labels)) {
            self.refuse_repeated_label(family, repeated, owner);
            return Err(Refused::RepeatedLabel);
        }
        // The first series' label set stands for all: the others differ only in suffix or label.
        let Some(first) = list.first() else {
            return Ok(list);
        };
        let key = (self.url.clone(), first.key.clone());
        match claims::claim(key, self.sink_id, producer, owner) {
            Err(taken) => {
                tracing::debug!(
                    "not exporting '{owner}': its series {} is already exported by '{}'{}",
                    family.name,
                    taken.by,
                    if taken.same_sink {
                        ""
                    } else {
                        " of another sink of this JVM"
                    }
                );
                Err(Refused::Taken)
            }
            Ok(()) => {
                self.families.record(family);
                if budgeted {
                    let share = (producer, owner.to_string());
                    self.budget.held.borrow_mut().insert(share, list.len());
                }
                Ok(list)
            }
        }
    }

    /// Counts and (once per sink) explains a series refused because a label name would appear
    /// twice. config.rs keeps the user's labels off ours and identity.rs the platform's, so this
    /// is a last guard: the receiver would refuse the whole request (Prometheus answers 500).
    fn refuse_repeated_label(&self, family: &Family, repeated: &str, owner: &str) {
        let before = self.repeated_labels.get();
        self.repeated_labels.set(before + 1);
        if before == 0 {
            tracing::warn!(
                "not exporting '{owner}' ({}): its label '{repeated}' would appear twice, which the \
                 receiver refuses along with the whole request. Counted in \
                 sparkprom_metrics_not_exported_total{{reason=\"duplicate_label\"}} (later ones are \
                 not logged); report this line",
                family.name
            );
        }
    }

    /// Series refused because a label name would have appeared twice, since the start.
    pub fn repeated_labels(&self) -> u64 {
        self.repeated_labels.get()
    }

    /// The labels every series of this sink carries: the user's, the platform's (the user's win
    /// over detected ones of the same name), `role`, and the identity's. Node statistics add
    /// `instance`, the node. A JVM without an executor id (a standalone master, worker or shuffle
    /// service) has nothing else to tell it from another, so all its series carry `instance` and
    /// `pid`: two workers of one cluster, or a master and a worker on one host, never write one
    /// series.
    fn common_labels(&self, producer: Producer, role: Option<&str>) -> Vec<Label> {
        let mut common: Vec<Label> = self
            .static_labels
            .iter()
            .map(|(k, v)| label(k, v))
            .collect();
        for (k, v) in &self.identity.platform_labels {
            if !common.iter().any(|l| &l.name == k) {
                common.push(label(k, v));
            }
        }
        if let Some(role) = role {
            common.push(label(names::ROLE.as_str(), role));
        }
        for (name, value) in [
            (names::APP_ID, &self.identity.app_id),
            (names::APP_NAME, &self.identity.app_name),
            (names::EXECUTOR_ID, &self.identity.executor_id),
        ] {
            if !value.is_empty() {
                common.push(label(name.as_str(), value));
            }
        }
        // No executor id: a daemon (or a JVM Spark never told its id); host and pid tell it apart.
        let no_executor_id = self.identity.executor_id.is_empty();
        if producer == Producer::Node {
            common.push(label(names::INSTANCE.as_str(), &self.node));
        } else if no_executor_id {
            common.push(label(names::INSTANCE.as_str(), &self.host));
        }
        if no_executor_id {
            common.push(label(names::PID.as_str(), &std::process::id().to_string()));
        }
        common
    }

    /// Gives up claims of this sink, and their share of the budget: all, one producer's, or
    /// one owner's.
    pub fn release(&self, which: Release) {
        self.budget.give_back(which);
        claims::release(self.sink_id, which);
    }
}

impl Drop for SinkLabels {
    fn drop(&mut self) {
        self.release(Release::All);
    }
}

/// The first label name a sorted label set holds twice.
fn repeated_label(sorted: &[Label]) -> Option<&str> {
    sorted
        .windows(2)
        .find(|pair| pair[0].name == pair[1].name)
        .map(|pair| pair[0].name.as_str())
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::MetricType;

    fn family(name: &str) -> Arc<Family> {
        Arc::new(Family {
            name: name.to_string(),
            metric_type: MetricType::Gauge,
            unit: "",
            help: String::new(),
        })
    }

    fn identity(executor_id: &str) -> Identity {
        Identity::from_pairs(
            &[
                ("app_id", "app-1"),
                ("app_name", "etl"),
                ("executor_id", executor_id),
                ("namespace", "app-1"),
                ("label.databricks_cluster_name", "prod-etl"),
                ("label.namespace", "spark-jobs"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn names(series: &Series) -> Vec<(&str, &str)> {
        series
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn a_series_carries_static_platform_role_and_identity_labels_sorted() {
        let mut labels = SinkLabels::new(
            "test:labels-all",
            vec![
                ("namespace".into(), "mine".into()),
                ("team".into(), "etl".into()),
            ],
            Filters::default(),
        );
        labels.set_identity(identity("3"));
        let series = labels
            .series_for(
                Producer::SparkNames,
                &family("spark_x"),
                Some("executor"),
                &[Variant::labelled(names::QUEUE, "appStatus")],
                "x",
            )
            .expect("not claimed by anyone else");
        assert_eq!(
            names(&series[0]),
            vec![
                ("__name__", "spark_x"),
                ("app_id", "app-1"),
                ("app_name", "etl"),
                ("databricks_cluster_name", "prod-etl"),
                ("executor_id", "3"),
                ("namespace", "mine"), // the user's label wins over the detected one
                ("queue", "appStatus"),
                ("role", "executor"),
                ("team", "etl"),
            ]
        );
        // The common ones are marked as such (OTLP sends them as the resource): all but the
        // name and the variant's own label.
        let common: Vec<&str> = series[0].common.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            common,
            vec![
                "app_id",
                "app_name",
                "databricks_cluster_name",
                "executor_id",
                "namespace",
                "role",
                "team"
            ]
        );
        assert!(series[0]
            .common
            .iter()
            .all(|c| series[0].labels.contains(c)));
        assert_eq!(labels.families().take_new().len(), 1);
    }

    #[test]
    fn the_spark_names_and_the_listener_share_one_budget_given_back_with_their_claims() {
        let mut labels =
            SinkLabels::new("test:labels-budget", vec![], Filters::default()).with_budget(3);
        labels.set_identity(identity("driver"));
        let two = [Variant::suffixed("_a"), Variant::suffixed("_b")];
        let made = |producer, name: &str, variants: &[Variant]| {
            labels.series_for(producer, &family(name), None, variants, name)
        };
        assert!(made(Producer::SparkNames, "spark_two", &two).is_ok());
        assert!(made(Producer::Signals, "spark_one", &[Variant::PLAIN]).is_ok());
        assert_eq!(labels.budget_used(), 3);
        assert_eq!(
            made(Producer::Signals, "spark_more", &[Variant::PLAIN]).err(),
            Some(Refused::OverBudget)
        );
        // Self-metrics and node statistics are bounded by what they are, not by maxSeries.
        assert!(made(Producer::Node, "node_x", &[Variant::PLAIN]).is_ok());
        assert!(made(Producer::SelfMetrics, "sparkprom_x", &[Variant::PLAIN]).is_ok());
        labels.release(Release::Owner(Producer::SparkNames, "spark_two"));
        assert_eq!(labels.budget_used(), 1);
        assert!(made(Producer::Signals, "spark_more", &[Variant::PLAIN]).is_ok());
        labels.release(Release::All);
        assert_eq!(labels.budget_used(), 0);
    }

    #[test]
    fn a_new_identity_gives_back_every_claim_and_an_equal_one_changes_nothing() {
        let mut first = SinkLabels::new("test:labels-identity", vec![], Filters::default());
        let second = SinkLabels::new("test:labels-identity", vec![], Filters::default());
        first.set_identity(identity("1"));
        let fam = family("node_load1");
        assert!(first
            .series_for(Producer::Node, &fam, None, &[Variant::PLAIN], "n")
            .is_ok());
        // `second` has no identity: its label set differs. Give it the same one: claimed.
        let mut second = second;
        second.set_identity(identity("1"));
        assert!(second
            .series_for(Producer::Node, &fam, None, &[Variant::PLAIN], "n")
            .is_err());
        assert_eq!(
            first.set_identity(identity("1")),
            IdentityChange::None,
            "the same identity is no change"
        );
        assert_eq!(first.set_identity(identity("2")), IdentityChange::Labels);
        assert!(second
            .series_for(Producer::Node, &fam, None, &[Variant::PLAIN], "n")
            .is_ok());
    }

    /// The sink's node_load1 series, which nothing else claims.
    fn node_load(labels: &SinkLabels) -> Vec<Arc<Series>> {
        let node = labels.series_for(
            Producer::Node,
            &family("node_load1"),
            None,
            &[Variant::PLAIN],
            "n",
        );
        node.expect("free")
    }

    #[test]
    fn a_jvm_without_executor_id_tells_its_series_by_host_and_pid() {
        let mut labels = SinkLabels::new("test:labels-daemon-jvm", vec![], Filters::default())
            .on_host("worker-pod-2".into())
            .on_node("node-7".into());
        let pid = std::process::id().to_string();
        let node = node_load(&labels);
        assert_eq!(
            names(&node[0]),
            vec![
                ("__name__", "node_load1"),
                ("instance", "node-7"),
                ("pid", pid.as_str())
            ]
        );
        labels.learn_role_from("worker.coresUsed");
        let worker = labels
            .series_for(
                Producer::SparkNames,
                &family("spark_worker_cores_used"),
                Some("worker"),
                &[Variant::PLAIN],
                "w",
            )
            .expect("free");
        assert_eq!(
            names(&worker[0]),
            vec![
                ("__name__", "spark_worker_cores_used"),
                ("instance", "worker-pod-2"),
                ("pid", pid.as_str()),
                ("role", "worker")
            ]
        );
    }

    /// Host-wide series leave an executor's pod off (they are the node's), but keep a daemon's:
    /// two workers in two pods on one node may well both be pid 7.
    #[test]
    fn host_wide_series_leave_the_pod_off_unless_the_jvm_is_a_daemon() {
        let in_pod = |url: &str, executor_id: &str| {
            let mut labels =
                SinkLabels::new(url, vec![], Filters::default()).on_node("node-9".into());
            let mut pairs = vec![("label.pod", "pod-1")];
            if !executor_id.is_empty() {
                pairs.push(("executor_id", executor_id));
            }
            labels.set_identity(Identity::from_pairs(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            ));
            labels
        };
        let has_pod = |labels: &SinkLabels| {
            let series = labels
                .host_series_for(&family("node_load1"), &[Variant::PLAIN], "n")
                .expect("free");
            series[0].labels.iter().any(|l| l.name == "pod")
        };
        assert!(!has_pod(&in_pod("test:labels-host-executor", "4")));
        assert!(has_pod(&in_pod("test:labels-host-daemon", "")));
    }

    #[test]
    fn an_executors_node_series_carry_the_host_and_its_own_no_pid() {
        let mut labels = SinkLabels::new("test:labels-executor-jvm", vec![], Filters::default())
            .on_host("exec-pod-3".into())
            .on_node("node-8".into());
        labels.set_identity(identity("3"));
        let node = node_load(&labels);
        assert!(names(&node[0]).contains(&("instance", "node-8")));
        let own = labels
            .series_for(
                Producer::SelfMetrics,
                &family("sparkprom_series"),
                Some("executor"),
                &[Variant::PLAIN],
                "s",
            )
            .expect("free");
        assert!(!names(&own[0])
            .iter()
            .any(|(n, _)| *n == "instance" || *n == "pid"));
    }

    /// The last guard: whatever slipped past config.rs and identity.rs, a series with one label
    /// name twice never reaches the wire (the receiver would refuse the whole request); it is
    /// refused here and counted.
    #[test]
    fn a_series_with_a_label_twice_is_refused_and_counted() {
        // Built without config.rs's check, which refuses `stage` in the user's labels.
        let labels = SinkLabels::new(
            "test:labels-repeated",
            vec![("stage".into(), "prod".into())],
            Filters::default(),
        );
        let twice = labels.series_for(
            Producer::Signals,
            &family("spark_stages_total"),
            Some("driver"),
            &[Variant::labelled(names::STAGE, "collect at a.py:1")],
            "s",
        );
        assert!(twice.is_err());
        assert_eq!(labels.repeated_labels(), 1);
        let once = labels.series_for(
            Producer::Signals,
            &family("spark_jobs_total"),
            Some("driver"),
            &[Variant::labelled(names::OUTCOME, "failed")],
            "j",
        );
        assert!(once.is_ok());
        assert_eq!(labels.repeated_labels(), 1);
    }

    #[test]
    fn a_daemons_names_give_its_role_and_it_misses_no_identity() {
        let mut labels = SinkLabels::new("test:labels-daemon", vec![], Filters::default());
        assert_eq!(labels.sink_role(), "other");
        assert_eq!(labels.missing_identity(), [true; 4]);
        labels.learn_role_from("HiveExternalCatalog.fileCacheHits");
        assert_eq!(labels.daemon_role(), "other");
        labels.learn_role_from("worker.coresUsed");
        assert_eq!(
            (labels.daemon_role(), labels.sink_role()),
            ("worker", "worker")
        );
        assert_eq!(labels.missing_identity(), [false; 4]);
    }
}
