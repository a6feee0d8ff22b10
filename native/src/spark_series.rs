//! The Spark names' series of one sink: Spark names arrive once with an id, then only ids with
//! values. What a name becomes (metric name, type, labels, or nothing) is decided once, the
//! first time its id carries a value ([`spark_names::decide`], then the sink's [`SinkLabels`]);
//! after that a reading costs an id lookup and a lookup of its name. The series themselves live
//! as every producer's do ([`SeriesSet`], keyed by the Spark name, so a name the Java side
//! numbers afresh keeps its series); this table keeps the ids, what each reading needs (its
//! factor to base units, a counter's last count) and when each name was last reported. Names
//! that leave the registry end.

use std::collections::HashMap;
use std::sync::Arc;

use crate::claims::Producer;
use crate::labels::{Refused, SinkLabels};
use crate::sample::{MetricType, Sample, Series};
use crate::series_set::{Made, SeriesSet};
use crate::snapshot::{Kind, Reading, Snapshot, Value, QUANTILES};
use crate::spark_names;

/// One defined name id.
struct NameSlot {
    spark_name: String,
    /// The last snapshot (`SparkSeries::epoch`) that carried this name.
    last_seen: u64,
    /// A Counter's last count, to notice one that goes down.
    last_count: i64,
}

/// What deciding a name found beside its series: the factor to base units and the Dropwizard
/// kind it was decided by (to decide it again when the namespace changes).
#[derive(Clone, Copy)]
struct Decided {
    factor: f64,
    kind: Kind,
}

/// The ingest thread's view of all Spark names of one sink.
pub struct SparkSeries {
    names: Vec<Option<NameSlot>>,
    /// The names' series, by Spark name.
    series: SeriesSet<String>,
    /// Per Spark name decided: its factor and kind.
    decided: HashMap<String, Decided>,
    /// Counts snapshots; a name missing from the newest one has left the registry.
    epoch: u64,
    /// Gauges that gave no number, since the start.
    pub skipped_gauges: u64,
    /// Counters, meters, histograms and timers whose read threw, since the start.
    pub failed_reads: u64,
    /// Readings of Dropwizard Counters lower than the one before (exported as counters, so
    /// Prometheus reads each as a reset), since the start.
    pub counters_decreased: u64,
    /// Spark names not exported because another sink of this JVM exports the same series.
    clashes: u64,
    /// Spark names refused by the `maxSeries` limit (the label context keeps the budget).
    pub over_limit: u64,
    /// A snapshot referred to an id this table does not have (or one far beyond any defined):
    /// the Java side must define every name again (`take_names_lost`).
    names_lost: bool,
    /// During a snapshot that renumbers the names (a names reset): the slots of the names
    /// before it, by name, for the names defined again to take back.
    renumbered: HashMap<String, NameSlot>,
    /// Names defined now, and the most defined at once since the Java side last numbered its
    /// names afresh: its ids never pass that peak, as it reuses the ids of names that left.
    defined: usize,
    peak_defined: usize,
}

/// How far beyond the most names ever defined at once a new id may be. The Java side hands out
/// ids densely (reusing those of names that left), so a larger jump is a corrupt snapshot, and
/// growing the table to it (an id near 2^31 would ask for tens of gigabytes) must not happen.
/// Measured from what was defined, not from the table's length, which a jump itself grows: else
/// jump after jump would ratchet the table up by this much each time.
const MAX_ID_JUMP: usize = 65_536;

impl Default for SparkSeries {
    fn default() -> SparkSeries {
        SparkSeries::new()
    }
}

impl SparkSeries {
    pub fn new() -> SparkSeries {
        SparkSeries {
            names: Vec::new(),
            series: SeriesSet::new(Producer::SparkNames),
            decided: HashMap::new(),
            epoch: 0,
            skipped_gauges: 0,
            failed_reads: 0,
            counters_decreased: 0,
            clashes: 0,
            names_lost: false,
            over_limit: 0,
            renumbered: HashMap::new(),
            defined: 0,
            peak_defined: 0,
        }
    }

    /// Applies a snapshot's definitions, then appends one sample per series for each reading to
    /// `out`, then stale markers for the names that left. The snapshot's identity is the
    /// caller's to apply first (`Ingest`), as it relabels every producer.
    pub fn ingest(&mut self, snapshot: &Snapshot, labels: &mut SinkLabels, out: &mut Vec<Sample>) {
        self.epoch += 1;
        let ts = snapshot.timestamp_ms;
        if snapshot.names_reset {
            // The Java side numbers its names afresh and defines each again below: a name
            // defined again takes its slot back (its series, claims and counts go on); the rest
            // left the registry meanwhile and end after this snapshot.
            self.renumbered = self
                .names
                .drain(..)
                .flatten()
                .map(|slot| (slot.spark_name.clone(), slot))
                .collect();
            (self.defined, self.peak_defined) = (0, 0);
        }
        for (id, name) in &snapshot.definitions {
            self.define(*id, name, labels, ts, out);
            labels.learn_role_from(name);
        }
        for reading in &snapshot.readings {
            self.push_samples(reading, ts, labels, out);
        }
        for (name, _) in std::mem::take(&mut self.renumbered) {
            // Not defined again: it left the registry.
            self.end(&name, labels, ts, out);
        }
        self.end_names_that_left(ts, labels, out);
    }

    /// Names the previous snapshot had and this one lacks left the registry: end their series,
    /// then forget them: their series budget (maxSeries), their claims and their ids (which the
    /// Java side gives back too and reuses) follow the live registry.
    fn end_names_that_left(&mut self, ts: i64, labels: &SinkLabels, out: &mut Vec<Sample>) {
        let previous = self.epoch - 1;
        for index in 0..self.names.len() {
            if self.names[index]
                .as_ref()
                .is_some_and(|slot| slot.last_seen == previous)
            {
                self.free(index, labels, ts, out);
            }
        }
    }

    /// Whether the Java side must define every name again; cleared by asking.
    pub fn take_names_lost(&mut self) -> bool {
        std::mem::take(&mut self.names_lost)
    }

    /// Series exported now for Spark names (self-metrics and node statistics not counted).
    pub fn live_series(&self) -> usize {
        self.series.live()
    }

    /// Whether a snapshot has arrived: the Java side sends the first once it knows the JVM's
    /// identity (or gave up waiting for it).
    pub fn has_reported(&self) -> bool {
        self.epoch > 0
    }

    /// Empties one id's slot and ends its name's series.
    fn free(&mut self, index: usize, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        if let Some(old) = self.names.get_mut(index).and_then(Option::take) {
            self.defined -= 1;
            self.end(&old.spark_name, labels, ts, out);
        }
    }

    /// Ends a name's series (a stale marker each, the claim and budget given back) and forgets
    /// how it was decided.
    fn end(&mut self, spark_name: &String, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        self.series.end(spark_name, labels, ts, out);
        self.decided.remove(spark_name);
    }

    /// Ends every series still reported; for the last report before the sink stops.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<Sample>) {
        self.series.stale_all(ts, out);
    }

    /// Only the namespace changed (the Java side corrected it from the registry's names): how
    /// names split changes, no label set does. Each exported name is decided again now; a
    /// series it still maps to goes on as it was (ending it would put a stale marker and a value
    /// at one time, which the receiver refuses), one it no longer maps to ends.
    pub fn renamespace(&mut self, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        let decided = std::mem::take(&mut self.decided);
        self.series.remake_all(labels, ts, out, |spark_name| {
            let Some(was) = decided.get(spark_name) else {
                return (spark_name.clone(), Err(Refused::Filtered));
            };
            let (made, factor) = decide(spark_name, was.kind, labels);
            self.decided.insert(
                spark_name.clone(),
                Decided {
                    factor,
                    kind: was.kind,
                },
            );
            (spark_name.clone(), made)
        });
    }

    /// The sink's labels changed (a new identity; its claims are already given up): ends every
    /// series still reported and decides every name again at its next reading.
    pub fn relabel(&mut self, ts: i64, out: &mut Vec<Sample>) {
        self.series.forget_all(ts, out);
        self.decided.clear();
    }

    fn define(&mut self, id: u32, name: &str, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        let index = id as usize;
        if index > self.peak_defined + MAX_ID_JUMP {
            tracing::warn!(
                "a snapshot defines name id {id}, far beyond the {} defined: asking for every name again",
                self.peak_defined
            );
            self.names_lost = true;
            return;
        }
        if self.names.len() <= index {
            self.names.resize_with(index + 1, || None);
        }
        if let Some(old) = &self.names[index] {
            if old.spark_name == name {
                return;
            }
            // The id is reused for another name: the old one left the registry.
            self.free(index, labels, ts, out);
        }
        self.defined += 1;
        self.peak_defined = self.peak_defined.max(self.defined);
        if let Some(slot) = self.renumbered.remove(name) {
            self.names[index] = Some(slot);
            return;
        }
        self.names[index] = Some(NameSlot {
            spark_name: name.to_string(),
            last_seen: 0,
            last_count: i64::MIN,
        });
    }

    /// One reading: decide its name's series if not done yet, then emit its samples.
    fn push_samples(
        &mut self,
        reading: &Reading,
        ts: i64,
        labels: &SinkLabels,
        out: &mut Vec<Sample>,
    ) {
        let epoch = self.epoch;
        let Some(Some(slot)) = self.names.get_mut(reading.id as usize) else {
            // Its definition was lost (a dropped or undecodable snapshot): without all names
            // again this metric would never be exported.
            tracing::debug!("reading for undefined name id {}", reading.id);
            self.names_lost = true;
            return;
        };
        slot.last_seen = epoch;
        if matches!(reading.value, Value::ReadFailed) {
            // No value, and no type to decide the name by: counted, decided at a good reading.
            self.failed_reads += 1;
            return;
        }
        let first = !self.series.knows(&slot.spark_name);
        if first && matches!(reading.value, Value::Skipped) {
            // A gauge that never gave a number (Spark 4's master reports an application's status
            // as text): counted, and decided at its first number. A series made now would send
            // nothing but, when the name leaves, a stale marker the receiver keeps as a series.
            self.skipped_gauges += 1;
            return;
        }
        let kind = reading.value.kind();
        let decided = &mut self.decided;
        let mut refused = None;
        let got = self.series.get(&slot.spark_name, true, || {
            let (made, factor) = decide(&slot.spark_name, kind, labels);
            decided.insert(slot.spark_name.clone(), Decided { factor, kind });
            refused = made.as_ref().err().copied().filter(|_| first);
            (slot.spark_name.clone(), made)
        });
        let series = got.series;
        let factor = decided.get(&slot.spark_name).map_or(1.0, |d| d.factor);
        if let Some(why) = refused {
            // Counted and (once per sink) logged when first decided, not when decided again.
            count_refusal(
                why,
                &slot.spark_name,
                labels,
                &mut self.over_limit,
                &mut self.clashes,
            );
        }
        if series.is_empty() {
            return;
        }
        match reading.value {
            Value::Skipped => self.skipped_gauges += 1,
            Value::Counter(count)
                if series
                    .first()
                    .is_some_and(|s| s.family.metric_type == MetricType::Counter) =>
            {
                if count < slot.last_count {
                    self.counters_decreased += 1;
                    if self.counters_decreased == 1 {
                        tracing::warn!(
                            "the Dropwizard Counter '{}' went down ({} to {count}); it is exported as a \
                             counter, so rate() reads that as a reset. Counted in sparkprom_counters_decreased_total \
                             (later ones are not logged): report the metric so sparkprom exports it as a gauge",
                            slot.spark_name,
                            slot.last_count
                        );
                    }
                }
                slot.last_count = count;
                emit(series, factor, &reading.value, ts, out);
            }
            _ => emit(series, factor, &reading.value, ts, out),
        }
    }
}

/// Decides what one Spark name becomes with the sink's labels, and its factor to base units.
fn decide(spark_name: &str, kind: Kind, labels: &SinkLabels) -> (Made, f64) {
    let (role, rest) = labels
        .identity()
        .split_name(spark_name)
        .unwrap_or((labels.daemon_role(), spark_name));
    let decision = spark_names::decide(rest, kind);
    if !labels.keeps(rest, &decision.family.name) {
        return (Err(Refused::Filtered), decision.factor);
    }
    let family = Arc::new(decision.family);
    let made = labels.series_for(
        Producer::SparkNames,
        &family,
        Some(role),
        &decision.variants,
        spark_name,
    );
    (made, decision.factor)
}

/// Counts a name refused for the budget or a clash, and logs the sink's first of each.
fn count_refusal(
    why: Refused,
    spark_name: &str,
    labels: &SinkLabels,
    over_limit: &mut u64,
    clashes: &mut u64,
) {
    match why {
        Refused::OverBudget => {
            *over_limit += 1;
            if *over_limit == 1 {
                tracing::warn!(
                    "not exporting Spark metric '{spark_name}' and any further new ones: this sink \
                     exports {} series, the maxSeries limit",
                    labels.budget_used()
                );
            }
        }
        Refused::Taken => {
            *clashes += 1;
            if *clashes == 1 {
                tracing::warn!(
                    "not exporting Spark metric '{spark_name}' (others may follow at debug level): its series are already \
                     exported to this receiver by another name or by another sink of this JVM (local-cluster runs the \
                     master and workers in the driver's JVM)"
                );
            }
        }
        _ => {}
    }
}

/// Appends the samples of one reading of a mapped name: its value in base units, or a summary's
/// quantiles and count.
fn emit(series: &[Arc<Series>], factor: f64, value: &Value, ts: i64, out: &mut Vec<Sample>) {
    let mut push = |index: usize, value: f64| {
        if let Some(s) = series.get(index) {
            out.push(Sample {
                series: Arc::clone(s),
                timestamp_ms: ts,
                value,
            });
        }
    };
    match *value {
        Value::Gauge(v) => push(0, v * factor),
        Value::Counter(c) | Value::Meter(c) => push(0, c as f64 * factor),
        Value::Histogram { count, quantiles } => {
            for (i, q) in quantiles.iter().enumerate() {
                push(i, q * factor);
            }
            push(QUANTILES.len(), count as f64);
        }
        Value::Timer { count, quantiles } => {
            for (i, q) in quantiles.iter().enumerate() {
                push(i, q / 1e9);
            }
            push(QUANTILES.len(), count as f64);
        }
        Value::Skipped | Value::ReadFailed => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Filters;
    use crate::identity::Identity;
    use crate::sample::STALE_NAN;
    use crate::snapshot::Encoder;

    /// A sink's labels and its table, fed as the ingest thread feeds them (identity first).
    struct Fixture {
        labels: SinkLabels,
        table: SparkSeries,
    }

    fn fixture(url: &str, static_labels: Vec<(String, String)>) -> Fixture {
        Fixture {
            labels: SinkLabels::new(url, static_labels, Filters::default()),
            table: SparkSeries::new(),
        }
    }

    fn limited(url: &str, filters: Filters, max_series: usize) -> Fixture {
        Fixture {
            labels: SinkLabels::new(url, vec![], filters).with_budget(max_series),
            table: SparkSeries::new(),
        }
    }

    impl Fixture {
        fn ingest(&mut self, snapshot: &Snapshot, out: &mut Vec<Sample>) {
            if let Some(pairs) = &snapshot.identity {
                self.labels.set_identity(Identity::from_pairs(pairs));
            }
            self.table.ingest(snapshot, &mut self.labels, out);
        }
    }

    fn identity_pairs() -> Vec<(String, String)> {
        [
            ("app_id", "app-20260101-0001"),
            ("app_name", "etl.daily"),
            ("executor_id", "3"),
            ("namespace", "app-20260101-0001"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn label<'a>(s: &'a Series, name: &str) -> Option<&'a str> {
        s.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    #[test]
    fn executor_counter_gets_identity_labels_and_total_suffix() {
        let mut table = fixture("test:identity", vec![("cluster".into(), "prod".into())]);
        let mut snap = Snapshot {
            identity: Some(identity_pairs()),
            definitions: vec![(0, "app-20260101-0001.3.executor.succeededTasks".into())],
            readings: vec![Reading {
                id: 0,
                value: Value::Counter(12),
            }],
            timestamp_ms: 1000,
            ..Default::default()
        };
        let mut out = Vec::new();
        table.ingest(&snap, &mut out);
        assert_eq!(out.len(), 1);
        let s = &out[0].series;
        assert_eq!(
            label(s, "__name__"),
            Some("spark_executor_succeeded_tasks_total")
        );
        assert_eq!(label(s, "executor_id"), Some("3"));
        assert_eq!(label(s, "role"), Some("executor"));
        assert_eq!(label(s, "app_name"), Some("etl.daily"));
        assert_eq!(label(s, "cluster"), Some("prod"));
        assert_eq!(out[0].value, 12.0);
        let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "labels must be sorted by name");

        // The second report refers to the name by id only and reuses the same series.
        snap.identity = None;
        snap.definitions.clear();
        snap.readings = vec![Reading {
            id: 0,
            value: Value::Counter(13),
        }];
        table.ingest(&snap, &mut out);
        assert!(Arc::ptr_eq(&out[0].series, &out[1].series));
    }

    #[test]
    fn namespace_with_dots_is_stripped_whole() {
        let mut pairs = identity_pairs();
        pairs[3].1 = "etl.daily".into();
        pairs[2].1 = "driver".into();
        let mut table = fixture("test:1", vec![]);
        let mut e = Encoder::default();
        e.begin(5, true);
        e.define(0, "etl.daily.driver.DAGScheduler.job.activeJobs");
        e.reading(0, Value::Gauge(2.0));
        let mut snap = Snapshot::default();
        crate::snapshot::decode_into(&e.buf, &mut snap).unwrap();
        snap.identity = Some(pairs);
        let mut out = Vec::new();
        table.ingest(&snap, &mut out);
        assert_eq!(
            label(&out[0].series, "__name__"),
            Some("spark_dag_scheduler_job_active_jobs")
        );
        assert_eq!(label(&out[0].series, "role"), Some("driver"));
    }

    #[test]
    fn timer_becomes_summary_in_seconds_with_count() {
        let mut table = fixture("test:2", vec![]);
        let snap = Snapshot {
            identity: Some(identity_pairs()),
            definitions: vec![(
                4,
                "app-20260101-0001.3.DAGScheduler.messageProcessingTime".into(),
            )],
            readings: vec![Reading {
                id: 4,
                value: Value::Timer {
                    count: 9,
                    quantiles: [1e9, 2e9, 3e9, 4e9, 5e9, 6e9],
                },
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        table.ingest(&snap, &mut out);
        assert_eq!(out.len(), 7);
        assert_eq!(
            label(&out[0].series, "__name__"),
            Some("spark_dag_scheduler_message_processing_time_seconds")
        );
        assert_eq!(label(&out[0].series, "quantile"), Some("0.5"));
        assert_eq!(out[0].value, 1.0);
        assert_eq!(label(&out[5].series, "quantile"), Some("0.999"));
        assert_eq!(
            label(&out[6].series, "__name__"),
            Some("spark_dag_scheduler_message_processing_time_seconds_count")
        );
        assert_eq!(out[6].value, 9.0);
        assert_eq!(out[0].series.family.metric_type, MetricType::Summary);
    }

    #[test]
    fn clashing_names_keep_the_first_and_drop_the_second() {
        let mut table = fixture("test:3", vec![]);
        let snap = Snapshot {
            identity: Some(identity_pairs()),
            definitions: vec![
                (0, "app-20260101-0001.3.src.fooBar".into()),
                (1, "app-20260101-0001.3.src.foo_bar".into()),
            ],
            readings: vec![
                Reading {
                    id: 0,
                    value: Value::Gauge(1.0),
                },
                Reading {
                    id: 1,
                    value: Value::Gauge(2.0),
                },
            ],
            ..Default::default()
        };
        let mut out = Vec::new();
        table.ingest(&snap, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, 1.0);
    }

    #[test]
    fn skipped_gauges_are_counted_not_sent() {
        let mut table = fixture("test:4", vec![]);
        let snap = Snapshot {
            definitions: vec![(0, "master.workers".into())],
            readings: vec![Reading {
                id: 0,
                value: Value::Skipped,
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        table.ingest(&snap, &mut out);
        assert!(out.is_empty());
        assert_eq!(table.table.skipped_gauges, 1);
        // It leaves the registry having never given a number: nothing ends, as nothing began.
        let left = Snapshot {
            timestamp_ms: 2_000,
            ..Default::default()
        };
        table.ingest(&left, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    fn daemon_snapshot() -> Snapshot {
        Snapshot {
            identity: Some(identity_pairs()),
            definitions: vec![
                (0, "HiveExternalCatalog.fileCacheHits".into()),
                (1, "worker.coresUsed".into()),
            ],
            readings: vec![
                Reading {
                    id: 0,
                    value: Value::Counter(1),
                },
                Reading {
                    id: 1,
                    value: Value::Gauge(2.0),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn daemon_sinks_take_their_role_from_their_sources() {
        let mut table = fixture("test:daemon-role", vec![]);
        let mut out = Vec::new();
        table.ingest(&daemon_snapshot(), &mut out);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|s| label(&s.series, "role") == Some("worker")));
        assert_eq!(
            label(&out[1].series, "__name__"),
            Some("spark_worker_cores_used")
        );
    }

    #[test]
    fn two_sinks_of_one_jvm_never_push_the_same_series_to_one_receiver() {
        let mut first = fixture("test:shared-url", vec![]);
        let mut second = fixture("test:shared-url", vec![]);
        let mut elsewhere = fixture("test:other-url", vec![]);
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        first.ingest(&daemon_snapshot(), &mut a);
        second.ingest(&daemon_snapshot(), &mut b);
        elsewhere.ingest(&daemon_snapshot(), &mut c);
        assert_eq!((a.len(), b.len(), c.len()), (2, 0, 2));
        // Once the first sink is gone, its series are free for another sink.
        drop(first);
        let mut third = fixture("test:shared-url", vec![]);
        let mut d = Vec::new();
        third.ingest(&daemon_snapshot(), &mut d);
        assert_eq!(d.len(), 2);
    }

    fn gauge_snapshot(ids: &[u32], with_definitions: bool) -> Snapshot {
        Snapshot {
            identity: Some(identity_pairs()),
            definitions: if with_definitions {
                ids.iter()
                    .map(|id| (*id, format!("app-20260101-0001.3.src.g{id}")))
                    .collect()
            } else {
                vec![]
            },
            readings: ids
                .iter()
                .map(|id| Reading {
                    id: *id,
                    value: Value::Gauge(1.0),
                })
                .collect(),
            timestamp_ms: 100,
            ..Default::default()
        }
    }

    #[test]
    fn a_metric_that_leaves_the_registry_gets_one_stale_marker() {
        let mut table = fixture("test:stale", vec![]);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0, 1], true), &mut out);
        out.clear();
        table.ingest(&gauge_snapshot(&[0], false), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(label(&out[1].series, "__name__"), Some("spark_src_g1"));
        assert_eq!(out[1].value.to_bits(), STALE_NAN.to_bits());
        out.clear();
        table.ingest(&gauge_snapshot(&[0], false), &mut out);
        assert_eq!(out.len(), 1, "the marker is sent once");
    }

    #[test]
    fn stopping_ends_every_series_that_was_still_reported() {
        let mut table = fixture("test:stale-all", vec![]);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0, 1, 2], true), &mut out);
        out.clear();
        table.table.stale_all(200, &mut out);
        assert_eq!(out.len(), 3);
        assert!(out
            .iter()
            .all(|s| s.value.to_bits() == STALE_NAN.to_bits() && s.timestamp_ms == 200));
    }

    #[test]
    fn filters_leave_metrics_out_by_either_name() {
        let filters = Filters {
            include: None,
            exclude: Some(regex::Regex::new("g1$|^spark_src_g2$").unwrap()),
        };
        let mut table = limited("test:filters", filters, usize::MAX);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0, 1, 2], true), &mut out);
        let names: Vec<_> = out
            .iter()
            .map(|s| label(&s.series, "__name__").unwrap())
            .collect();
        assert_eq!(names, vec!["spark_src_g0"]);
    }

    #[test]
    fn series_beyond_the_limit_are_counted_not_exported() {
        let mut table = limited("test:limit", Filters::default(), 2);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0, 1, 2, 3], true), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(table.table.over_limit, 2);
    }

    /// A driver that starts and stops streaming queries: names come and go. The budget, the
    /// claims and the ids of those that left come back, so a name that arrives late is exported.
    #[test]
    fn names_that_leave_give_back_their_series_budget_and_ids() {
        let mut table = limited("test:churn", Filters::default(), 2);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0, 1], true), &mut out);
        assert_eq!(table.table.live_series(), 2);
        // g1 leaves; the Java side gives its id back and reuses it for a new name.
        table.ingest(&gauge_snapshot(&[0], false), &mut out);
        assert_eq!(table.table.live_series(), 1);
        out.clear();
        let mut arrival = gauge_snapshot(&[0, 1], false);
        arrival.definitions = vec![(1, "app-20260101-0001.3.src.late".into())];
        table.ingest(&arrival, &mut out);
        assert_eq!(table.table.over_limit, 0);
        assert_eq!(table.table.live_series(), 2);
        let names: Vec<&str> = out
            .iter()
            .filter_map(|s| label(&s.series, "__name__"))
            .collect();
        assert!(names.contains(&"spark_src_late"), "{names:?}");
        // Thousands of comings and goings later the table is as large as the registry.
        for round in 0..5_000u32 {
            let mut snap = gauge_snapshot(&[0, 1], false);
            snap.definitions = vec![(1, format!("app-20260101-0001.3.src.q{round}"))];
            table.ingest(&snap, &mut out);
            table.ingest(&gauge_snapshot(&[0], false), &mut out);
            out.clear();
        }
        assert_eq!(
            (
                table.table.live_series(),
                table.table.over_limit,
                table.table.names.len()
            ),
            (1, 0, 2)
        );
    }

    #[test]
    fn an_id_far_beyond_those_defined_is_refused_and_all_names_are_asked_for() {
        let mut table = fixture("test:huge-id", vec![]);
        let mut out = Vec::new();
        let mut snap = gauge_snapshot(&[0], true);
        snap.definitions
            .push((u32::MAX >> 1, "app-20260101-0001.3.src.far".into()));
        table.ingest(&snap, &mut out);
        assert!(
            table.table.names.len() < 10,
            "the table grew to {}",
            table.table.names.len()
        );
        assert!(table.table.take_names_lost());
        assert!(!table.table.take_names_lost(), "asking clears it");
    }

    /// Ids just within the allowed jump, one snapshot after another: the bound follows the names
    /// really defined, so the table cannot be walked up MAX_ID_JUMP slots at a time.
    #[test]
    fn repeated_id_jumps_do_not_ratchet_the_table_up() {
        let mut table = fixture("test:id-ratchet", vec![]);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0], true), &mut out);
        for round in 0..8 {
            let mut snap = gauge_snapshot(&[0], false);
            let far = table.table.names.len() + MAX_ID_JUMP;
            snap.definitions
                .push((far as u32, format!("app-20260101-0001.3.src.jump{round}")));
            table.ingest(&snap, &mut out);
        }
        assert!(
            table.table.names.len() <= 2 * MAX_ID_JUMP,
            "the table grew to {} slots for {} names",
            table.table.names.len(),
            table.table.defined
        );
        assert!(table.table.take_names_lost());
    }

    #[test]
    fn a_reading_for_an_undefined_id_asks_for_all_names_again() {
        let mut table = fixture("test:lost", vec![]);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0], true), &mut out);
        assert!(!table.table.take_names_lost());
        table.ingest(&gauge_snapshot(&[0, 7], false), &mut out);
        assert!(table.table.take_names_lost());
    }

    /// A names reset (the Java side numbers its names afresh) gives back only the Spark names'
    /// claims: the self-metrics and node statistics go on being sent, and stay this sink's.
    #[test]
    fn a_names_reset_keeps_self_metric_and_node_series_sent_and_claimed() {
        use crate::node::series::NodeSeries;
        use crate::node::stat::{NodeFamily, Stat};
        use crate::node::thread::Collection;
        use crate::self_metrics::{ReportFigures, SelfMetrics};
        use crate::stats::Stats;

        static LOAD: NodeFamily = NodeFamily {
            name: "node_load1",
            metric_type: MetricType::Gauge,
            help: "",
            unit: "",
            scope: crate::node::stat::Scope::Host,
        };
        let collection = Collection {
            timestamp_ms: 100,
            stats: vec![Stat::new(&LOAD, 0.5)],
        };
        let figures = ReportFigures {
            capacity: 1,
            ..Default::default()
        };
        let stats = Stats::default();
        // Two sinks of one JVM with one identity, pushing to one receiver (local-cluster).
        let mut first = fixture("test:reset", vec![]);
        let mut second = fixture("test:reset", vec![]);
        let (mut first_self, mut first_node) = (SelfMetrics::default(), NodeSeries::default());
        let (mut second_self, mut second_node) = (SelfMetrics::default(), NodeSeries::default());
        let mut out = Vec::new();
        first.ingest(&gauge_snapshot(&[0], true), &mut out);
        first_self.append(&first.labels, &stats, &figures, 100, &mut out);
        first_node.append(&first.labels, &collection, 100, &mut out);

        let mut reset = gauge_snapshot(&[0], true);
        reset.names_reset = true;
        first.ingest(&reset, &mut out);
        out.clear();
        first_self.append(&first.labels, &stats, &figures, 200, &mut out);
        first_node.append(&first.labels, &collection, 200, &mut out);
        let sent = out.len();
        assert!(
            sent > 1,
            "the first sink still sends its self-metrics and node series"
        );

        out.clear();
        second.ingest(&gauge_snapshot(&[0], true), &mut out);
        assert!(out.is_empty(), "the Spark name is the first sink's again");
        second_self.append(&second.labels, &stats, &figures, 200, &mut out);
        second_node.append(&second.labels, &collection, 200, &mut out);
        assert!(
            out.is_empty(),
            "the second sink must not take the first's series: {} samples",
            out.len()
        );
    }

    /// A name refused for the series budget is exported once budget comes back, and counted once.
    #[test]
    fn a_name_over_the_limit_is_exported_when_budget_comes_back() {
        let mut table = limited("test:recheck-limit", Filters::default(), 1);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0, 1], true), &mut out);
        assert_eq!((out.len(), table.table.over_limit), (1, 1));
        table.ingest(&gauge_snapshot(&[1], false), &mut out); // g0 leaves
        out.clear();
        table.ingest(&gauge_snapshot(&[1], false), &mut out);
        let names: Vec<_> = out
            .iter()
            .filter_map(|s| label(&s.series, "__name__"))
            .collect();
        assert_eq!(names, ["spark_src_g1"]);
        assert_eq!(
            table.table.over_limit, 1,
            "a refusal decided again is not counted again"
        );
    }

    /// A name refused because another sink of the JVM exported its series is exported once that
    /// sink is gone.
    #[test]
    fn a_clashed_name_is_exported_when_the_other_sink_gives_its_series_back() {
        let mut first = fixture("test:recheck-clash", vec![]);
        let mut second = fixture("test:recheck-clash", vec![]);
        let mut out = Vec::new();
        first.ingest(&daemon_snapshot(), &mut out);
        out.clear();
        second.ingest(&daemon_snapshot(), &mut out);
        assert!(out.is_empty());
        drop(first);
        let mut steady = daemon_snapshot();
        steady.definitions.clear();
        second.ingest(&steady, &mut out);
        assert_eq!(out.len(), 2, "the second sink exports both names now");
    }

    /// A names reset: the Java side numbers its names afresh and defines the ones still in the
    /// registry again. Those go on (no stale marker, their claims and budget kept); a name that
    /// left the registry meanwhile, whose absence the old ids would have shown, ends.
    #[test]
    fn a_names_reset_continues_the_names_defined_again_and_ends_the_rest() {
        let mut table = fixture("test:names-reset-continues", vec![]);
        let mut out = Vec::new();
        table.ingest(&gauge_snapshot(&[0, 1, 2], true), &mut out);
        out.clear();
        // g0 and g1 come back as ids 1 and 0; g2 is gone.
        let mut reset = gauge_snapshot(&[0, 1], false);
        reset.names_reset = true;
        reset.timestamp_ms = 200;
        reset.definitions = vec![
            (0, "app-20260101-0001.3.src.g1".into()),
            (1, "app-20260101-0001.3.src.g0".into()),
        ];
        table.ingest(&reset, &mut out);
        let ended: Vec<_> = out
            .iter()
            .filter(|s| s.value.to_bits() == STALE_NAN.to_bits())
            .filter_map(|s| label(&s.series, "__name__"))
            .collect();
        assert_eq!(ended, ["spark_src_g2"]);
        assert_eq!(out.len(), 3, "g0 and g1 go on, g2 ends");
        assert_eq!(table.table.live_series(), 2);
    }

    #[test]
    fn a_counter_that_goes_down_is_counted() {
        let mut table = fixture("test:decreasing", vec![]);
        let counter = |count, define: bool| Snapshot {
            identity: Some(identity_pairs()),
            definitions: if define {
                vec![(0, "app-20260101-0001.3.src.open".into())]
            } else {
                vec![]
            },
            readings: vec![Reading {
                id: 0,
                value: Value::Counter(count),
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        table.ingest(&counter(5, true), &mut out);
        table.ingest(&counter(7, false), &mut out);
        assert_eq!(table.table.counters_decreased, 0);
        table.ingest(&counter(6, false), &mut out);
        assert_eq!((table.table.counters_decreased, out.len()), (1, 3));
    }
}
