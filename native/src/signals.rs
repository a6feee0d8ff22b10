//! The driver listener's series (`io.sparkprom.SparkSignals`): jobs, stages, tasks, executors
//! and the application as the listener bus tells them. The Java side aggregates and names them;
//! this file declares every family (type, unit, help, label names, the event it comes from) and
//! turns each defined series into this sink's labels, like every other producer. A name the
//! table lacks (a jar newer than this core) is left out with one WARN.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::claims::Producer;
use crate::label_names::{self as names, LabelName, OUTCOME, REASON, SPARK_JOB};
use crate::labels::{Refused, SinkLabels, Variant};
use crate::sample::MetricType;
use crate::sample::{Family, Sample, Series};
use crate::series_set::{Made, SeriesSet};
use crate::snapshot::{SignalDefinition, Snapshot};

/// One family of listener series, as data; docs/metrics-reference.md lists the same.
pub struct SignalFamily {
    pub name: &'static str,
    pub metric_type: MetricType,
    pub unit: &'static str,
    pub labels: &'static [LabelName],
    pub help: &'static str,
    /// The Spark listener event(s) it comes from.
    pub source: &'static str,
}

const fn family(
    name: &'static str,
    metric_type: MetricType,
    unit: &'static str,
    labels: &'static [LabelName],
    help: &'static str,
    source: &'static str,
) -> SignalFamily {
    SignalFamily {
        name,
        metric_type,
        unit,
        labels,
        help,
        source,
    }
}

use MetricType::{Counter, Gauge, Histogram};

const JOB: &[LabelName] = &[SPARK_JOB];
const STAGE: &[LabelName] = &[SPARK_JOB, names::STAGE];
const QUERY: &[LabelName] = &[names::QUERY];
const PROGRESS: &str = "QueryProgressEvent (ended at QueryTerminatedEvent)";
const TASK_END: &str = "SparkListenerTaskEnd, folded at SparkListenerStageCompleted";

/// Every listener family. `spark_job` is the job group, else the description, else the call site
/// (masked and bounded by `listener.maxKeys`); `stage` is the stage's name (its call site).
pub const FAMILIES: &[SignalFamily] = &[
    family("spark_jobs_total", Counter, "", &[SPARK_JOB, OUTCOME],
        "Jobs ended, by outcome (succeeded, failed, cancelled: a cancelled job group or tag, a stopped stream's \
         jobs, jobs cut short as the context stops).", "SparkListenerJobEnd"),
    family("spark_jobs_running", Gauge, "", JOB,
        "Jobs running now (0 once a key's jobs have ended).", "SparkListenerJobStart, SparkListenerJobEnd"),
    family("spark_job_running_longest_seconds", Gauge, "seconds", JOB,
        "How long the oldest running job of the key has run (0 when none runs).",
        "SparkListenerJobStart, SparkListenerJobEnd"),
    family("spark_job_duration_seconds", Histogram, "seconds", JOB,
        "Wall time of each ended job, submission to end.", "SparkListenerJobStart, SparkListenerJobEnd"),
    family("spark_stages_total", Counter, "", &[SPARK_JOB, names::STAGE, OUTCOME],
        "Stage attempts ended, by outcome (succeeded, failed, cancelled with their job), and stages a job skipped \
         (skipped).",
        "SparkListenerStageCompleted; skipped: SparkListenerJobEnd"),
    family("spark_stages_running", Gauge, "", STAGE,
        "Stage attempts running now (0 once a key's have ended).", "SparkListenerStageSubmitted, SparkListenerStageCompleted"),
    family("spark_stage_running_longest_seconds", Gauge, "seconds", STAGE,
        "How long the oldest running attempt of the stage key has run (0 when none runs).",
        "SparkListenerStageSubmitted, SparkListenerStageCompleted"),
    family("spark_stage_duration_seconds", Histogram, "seconds", STAGE,
        "Wall time of each completed stage attempt, submission to completion.", "SparkListenerStageCompleted"),
    family("spark_stage_task_duration_seconds", Histogram, "seconds", STAGE,
        "Duration of each successful task of a completed stage attempt.", TASK_END),
    family("spark_stage_task_skew_ratio", Histogram, "", STAGE,
        "Per completed stage attempt with 10 or more successful tasks: the longest task's duration over the median's.",
        TASK_END),
    family("spark_stage_executor_run_time_seconds_total", Counter, "seconds", STAGE,
        "Tasks' executor run time (TaskMetrics.executorRunTime).", TASK_END),
    family("spark_stage_executor_cpu_time_seconds_total", Counter, "seconds", STAGE,
        "Tasks' executor CPU time (TaskMetrics.executorCpuTime).", TASK_END),
    family("spark_stage_jvm_gc_time_seconds_total", Counter, "seconds", STAGE,
        "Tasks' JVM garbage-collection time (TaskMetrics.jvmGCTime).", TASK_END),
    family("spark_stage_deserialize_time_seconds_total", Counter, "seconds", STAGE,
        "Tasks' deserialization time (TaskMetrics.executorDeserializeTime).", TASK_END),
    family("spark_stage_input_bytes_total", Counter, "bytes", STAGE,
        "Bytes the tasks read from input (InputMetrics.bytesRead).", TASK_END),
    family("spark_stage_input_records_total", Counter, "", STAGE,
        "Records the tasks read from input (InputMetrics.recordsRead).", TASK_END),
    family("spark_stage_output_bytes_total", Counter, "bytes", STAGE,
        "Bytes the tasks wrote as output (OutputMetrics.bytesWritten).", TASK_END),
    family("spark_stage_output_records_total", Counter, "", STAGE,
        "Records the tasks wrote as output (OutputMetrics.recordsWritten).", TASK_END),
    family("spark_stage_shuffle_read_bytes_total", Counter, "bytes", STAGE,
        "Shuffle bytes the tasks read, local and remote (ShuffleReadMetrics.totalBytesRead).", TASK_END),
    family("spark_stage_shuffle_read_records_total", Counter, "", STAGE,
        "Shuffle records the tasks read (ShuffleReadMetrics.recordsRead).", TASK_END),
    family("spark_stage_shuffle_fetch_wait_seconds_total", Counter, "seconds", STAGE,
        "Time the tasks waited for shuffle blocks (ShuffleReadMetrics.fetchWaitTime).", TASK_END),
    family("spark_stage_shuffle_write_bytes_total", Counter, "bytes", STAGE,
        "Shuffle bytes the tasks wrote (ShuffleWriteMetrics.bytesWritten).", TASK_END),
    family("spark_stage_shuffle_write_records_total", Counter, "", STAGE,
        "Shuffle records the tasks wrote (ShuffleWriteMetrics.recordsWritten).", TASK_END),
    family("spark_stage_shuffle_write_time_seconds_total", Counter, "seconds", STAGE,
        "Time the tasks spent writing shuffle data (ShuffleWriteMetrics.writeTime).", TASK_END),
    family("spark_stage_memory_spilled_bytes_total", Counter, "bytes", STAGE,
        "In-memory size of the data the tasks spilled (TaskMetrics.memoryBytesSpilled).", TASK_END),
    family("spark_stage_disk_spilled_bytes_total", Counter, "bytes", STAGE,
        "On-disk size of the data the tasks spilled (TaskMetrics.diskBytesSpilled).", TASK_END),
    family("spark_stage_failed_tasks_total", Counter, "", STAGE,
        "Task attempts of the stage that did not succeed (failed or killed).", TASK_END),
    family("spark_stage_retried_tasks_total", Counter, "", STAGE,
        "Task attempts of the stage that were retries (attempt number above 0, speculative copies not counted).",
        TASK_END),
    family("spark_tasks_total", Counter, "", &[OUTCOME, REASON],
        "Task attempts ended, by outcome (succeeded, failed, killed) and reason (none, an exception class, \
         fetch_failed, executor_lost, killed, commit_denied, result_lost, resubmitted, unknown).",
        "SparkListenerTaskEnd"),
    family("spark_executors_added_total", Counter, "", &[],
        "Executor JVMs added to the application (local mode's driver is not one).", "SparkListenerExecutorAdded"),
    family("spark_executors_removed_total", Counter, "", &[REASON],
        "Executors removed, by reason (killed_by_driver, heartbeat_timeout, decommissioned, oom, sigkill, \
         sigterm, exit_code_N, disconnected, worker_lost, unknown).",
        "SparkListenerExecutorRemoved"),
    family("spark_application_start_time_seconds", Gauge, "seconds", &[],
        "When the application started (Unix time).", "SparkListenerApplicationStart"),
    family("spark_application_end_time_seconds", Gauge, "seconds", &[OUTCOME],
        "When the application ended (Unix time), with its outcome: from the exit code on Spark 4 (succeeded, \
         failed); on Spark 3, whose end event has none, failed when its last job that did not end cancelled \
         failed, else unknown.",
        "SparkListenerApplicationEnd"),
    family("spark_streaming_queries_total", Counter, "", &[OUTCOME],
        "Structured Streaming queries started, and ended by outcome (started, stopped, failed).",
        "QueryStartedEvent, QueryTerminatedEvent"),
    family("spark_streaming_batches_total", Counter, "", QUERY,
        "Micro-batches the query ran to their end (0 from the query's start; an idle trigger's progress is no batch).",
        PROGRESS),
    family("spark_streaming_query_start_time_seconds", Gauge, "seconds", QUERY,
        "When the query started (Unix time): with batches at 0, a query stuck in its first batch.",
        "QueryStartedEvent (ended at QueryTerminatedEvent)"),
    family("spark_streaming_batch_duration_seconds", Gauge, "seconds", QUERY,
        "Wall time of the query's last micro-batch (StreamingQueryProgress.batchDuration).", PROGRESS),
    family("spark_streaming_batch_phase_duration_seconds", Gauge, "seconds", &[names::QUERY, names::PHASE],
        "Time the last micro-batch spent in each phase (durationMs: addBatch, getBatch, latestOffset, \
         queryPlanning, walCommit, commitOffsets, triggerExecution, ...).", PROGRESS),
    family("spark_streaming_input_rows_total", Counter, "", QUERY,
        "Rows the query read, all sources (numInputRows).", PROGRESS),
    family("spark_streaming_input_rows_per_second", Gauge, "", QUERY,
        "Rate at which the data of the last micro-batch that read rows arrived (inputRowsPerSecond; a no-data batch keeps it, 0 once the query has read nothing for 10 s).", PROGRESS),
    family("spark_streaming_processed_rows_per_second", Gauge, "", QUERY,
        "Rate at which the last micro-batch that read rows processed them (processedRowsPerSecond; a no-data batch keeps it, 0 once the query has read nothing for 10 s).", PROGRESS),
    family("spark_streaming_last_progress_time_seconds", Gauge, "seconds", QUERY,
        "When the query last reported progress (Unix time): a batch's trigger, or an idle trigger's (every 10 s).",
        PROGRESS),
    family("spark_streaming_watermark_lag_seconds", Gauge, "seconds", QUERY,
        "The last trigger's time minus the event-time watermark (queries with a watermark, once it moved).",
        PROGRESS),
    family("spark_streaming_state_rows", Gauge, "", &[names::QUERY, names::OPERATOR],
        "Rows in a stateful operator's state (StateOperatorProgress.numRowsTotal).", PROGRESS),
    family("spark_streaming_state_memory_bytes", Gauge, "bytes", &[names::QUERY, names::OPERATOR],
        "Memory a stateful operator's state store uses (memoryUsedBytes).", PROGRESS),
    family("spark_streaming_state_rows_dropped_by_watermark_total", Counter, "", &[names::QUERY, names::OPERATOR],
        "Late rows a stateful operator dropped (numRowsDroppedByWatermark).", PROGRESS),
    family("spark_streaming_source_offsets_behind_latest", Gauge, "", &[names::QUERY, names::SOURCE],
        "How far a source is behind its latest offset, where it says (Kafka's maxOffsetsBehindLatest).",
        PROGRESS),
    family("spark_streaming_source_outstanding_files", Gauge, "", &[names::QUERY, names::SOURCE],
        "Files a source has not read yet, where it says (Delta's numFilesOutstanding).", PROGRESS),
    family("spark_streaming_source_outstanding_bytes", Gauge, "bytes", &[names::QUERY, names::SOURCE],
        "Bytes a source has not read yet, where it says (Delta's numBytesOutstanding).", PROGRESS),
    family("sparkprom_listener_keys_folded_total", Counter, "", &[names::LABEL],
        "Listener events whose job, stage or reason label became \"other\" because listener.maxKeys \
         (or 30 reasons) were taken.",
        "the listener's key budget"),
    family("sparkprom_listener_live_state", Gauge, "", &[names::KIND],
        "Running jobs and stage attempts the listener holds (kind: jobs, stages), at most 1,000 each.",
        "the listener's state"),
    family("sparkprom_listener_state_evicted_total", Counter, "", &[names::KIND],
        "Running jobs or stage attempts let go because 1,000 were held: Spark dropped their ends from a full \
         queue (see the queue's dropped events).",
        "the listener's state"),
    family("sparkprom_listener_events_total", Counter, "", &[],
        "Listener-bus events the sink's listener handled.", "every event"),
    family("sparkprom_listener_cpu_seconds_total", Counter, "seconds", &[],
        "CPU time of the listener's bus-queue thread: Spark's dispatch of events to it and the \
         listener's own work (its cost, measured where it runs).",
        "every event"),
];

const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The family of a series name and the series' suffix (`_bucket` ... for a histogram), with the
/// label names its values go with.
pub fn lookup(series_name: &str) -> Option<(&'static SignalFamily, &'static str)> {
    for f in FAMILIES {
        if f.metric_type != Histogram {
            if f.name == series_name {
                return Some((f, ""));
            }
            continue;
        }
        for suffix in HISTOGRAM_SUFFIXES {
            if series_name.strip_suffix(suffix) == Some(f.name) {
                return Some((f, suffix));
            }
        }
    }
    None
}

/// What holds a listener series' claim: its name and label values.
fn owner_of(definition: &SignalDefinition) -> String {
    format!("{}{:?}", definition.name, definition.label_values)
}

/// Whether a series counts up from 0: a counter, or a histogram's bucket, sum or count.
fn counts_from_zero(series: &Series) -> bool {
    matches!(series.family.metric_type, Counter | Histogram)
}

/// The listener's series of one sink: the Java side's ids of the series it defined, and their
/// series, kept by what they are (name and label values), so a series the Java side numbers
/// afresh goes on.
pub struct SignalSeries {
    families: HashMap<&'static str, Arc<Family>>,
    /// Signal id -> its definition and its key (`owner_of`), in the order the ids were given.
    defined: BTreeMap<u32, (SignalDefinition, String)>,
    series: SeriesSet<String>,
    unknown_warned: bool,
    /// Listener series refused by the `maxSeries` budget, since the start.
    pub over_limit: u64,
}

impl Default for SignalSeries {
    fn default() -> SignalSeries {
        SignalSeries {
            families: HashMap::new(),
            defined: BTreeMap::new(),
            series: SeriesSet::new(Producer::Signals),
            unknown_warned: false,
            over_limit: 0,
        }
    }
}

impl SignalSeries {
    /// Takes this report's ends and definitions and appends a sample per listener series. The
    /// listener's series share the sink's `maxSeries` budget with the Spark names (the label
    /// context keeps it): one beyond it is counted in `over_limit` and made when room comes
    /// back (a streaming query ends, a Spark name leaves).
    pub fn append(
        &mut self,
        snapshot: &Snapshot,
        labels: &SinkLabels,
        ts: i64,
        out: &mut Vec<Sample>,
    ) {
        // Series that may end with this report: all of them when the Java side numbers its series
        // afresh (it defines again the ones that go on), and the ones it ended. A definition of
        // the same series takes it back: the series goes on, never defined anew, so no 0 comes
        // before its next value (a counter that dips to 0 and back reads as a reset and pages
        // someone) and no stale marker comes before a value of the same time (which the
        // receiver refuses). What no definition takes back ends below.
        let mut ending: HashSet<String> = HashSet::new();
        if snapshot.names_reset {
            ending.extend(
                std::mem::take(&mut self.defined)
                    .into_values()
                    .map(|(_, key)| key),
            );
        }
        for id in &snapshot.signal_ends {
            if let Some((_, key)) = self.defined.remove(id) {
                ending.insert(key);
            }
        }
        let mut counting_from_zero = HashSet::new();
        for definition in &snapshot.signal_definitions {
            let key = owner_of(definition);
            if !ending.remove(&key) && definition.new {
                counting_from_zero.insert(definition.id);
            }
            self.defined
                .insert(definition.id, (definition.clone(), key));
        }
        let series = &mut self.series;
        for key in ending {
            series.end(&key, labels, ts, out);
        }
        // Every defined series, made once: again after a new identity, and one refused for the
        // budget or a claim once claims were given back.
        let (families, unknown_warned, over_limit) = (
            &mut self.families,
            &mut self.unknown_warned,
            &mut self.over_limit,
        );
        for (id, (definition, key)) in &self.defined {
            let first = !series.knows(key);
            let got = series.get(key, true, || {
                let mut made = series_of(families, unknown_warned, labels, definition);
                if first && made == Err(Refused::OverBudget) {
                    count_over_limit(over_limit, definition);
                }
                if let Ok(list) = &mut made {
                    if counting_from_zero.contains(id) {
                        // Counted from 0 just before this report's first event: the start a
                        // receiver of remote write 2.0 is told (made just now, so held only here).
                        for new in list.iter_mut().filter_map(Arc::get_mut) {
                            new.start_ms = ts - 1;
                        }
                    }
                }
                (key.clone(), made)
            });
            let Some(made) = got.series.first().filter(|_| got.made_now) else {
                continue;
            };
            if counting_from_zero.contains(id) && counts_from_zero(made) {
                // A counter (or a histogram's bucket, sum or count) the listener made on its first
                // event: it was 0 until then, and saying so lets increase() and rate() see that
                // first event (a series whose first sample is already 1 shows no increase). Sent
                // over remote write 2.0 as well, beside the start: Prometheus 3 turns a start into
                // such a 0 only with created-timestamp-zero-ingestion on (the same 0 twice is one).
                out.push(Sample {
                    series: Arc::clone(made),
                    timestamp_ms: ts - 1,
                    value: 0.0,
                });
            }
        }
        for &(id, value) in &snapshot.signal_values {
            let Some((_, key)) = self.defined.get(&id) else {
                continue;
            };
            for s in series.peek(key).unwrap_or_default() {
                out.push(Sample {
                    series: Arc::clone(s),
                    timestamp_ms: ts,
                    value,
                });
            }
        }
    }

    /// Listener series exported now: they count against `maxSeries` with the Spark names'.
    pub fn live_series(&self) -> usize {
        self.series.live()
    }

    /// Ends every listener series; for the sink's last report.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<Sample>) {
        self.series.stale_all(ts, out);
    }

    /// The sink's labels changed: ends every series. The Java side does not define them again,
    /// so the ids stay and their series are made anew, with the new labels, at the next report.
    pub fn relabel(&mut self, ts: i64, out: &mut Vec<Sample>) {
        self.series.forget_all(ts, out);
    }
}

/// Counts a listener series refused for the budget, and says so the first time.
fn count_over_limit(over_limit: &mut u64, definition: &SignalDefinition) {
    *over_limit += 1;
    if *over_limit == 1 {
        tracing::warn!(
            "not exporting the listener series '{}' and any further new ones: this sink \
             exports maxSeries series; raise maxSeries or lower listener.maxKeys",
            definition.name
        );
    }
}

/// The series of one listener definition for this sink.
fn series_of(
    families: &mut HashMap<&'static str, Arc<Family>>,
    unknown_warned: &mut bool,
    sink_labels: &SinkLabels,
    definition: &SignalDefinition,
) -> Made {
    let Some((family, suffix)) = lookup(&definition.name) else {
        warn_unknown(
            unknown_warned,
            &definition.name,
            "is not a listener family this core knows",
        );
        return Err(Refused::Filtered);
    };
    let bucket = usize::from(suffix == "_bucket");
    if definition.label_values.len() != family.labels.len() + bucket {
        warn_unknown(
            unknown_warned,
            &definition.name,
            "came with the wrong number of labels",
        );
        return Err(Refused::Filtered);
    }
    if !sink_labels.keeps(&definition.name, family.name) {
        return Err(Refused::Filtered);
    }
    let exported = Arc::clone(families.entry(family.name).or_insert_with(|| {
        Arc::new(Family {
            name: family.name.to_string(),
            metric_type: family.metric_type,
            unit: family.unit,
            help: family.help.to_string(),
        })
    }));
    let label_names = family.labels.iter().copied().chain([names::LE]);
    let variant = Variant {
        suffix,
        labels: label_names
            .zip(definition.label_values.iter().cloned())
            .collect(),
    };
    let role = Some(sink_labels.sink_role());
    sink_labels.series_for(
        Producer::Signals,
        &exported,
        role,
        &[variant],
        &owner_of(definition),
    )
}

fn warn_unknown(warned: &mut bool, name: &str, what: &str) {
    if !std::mem::replace(warned, true) {
        tracing::warn!(
            "the listener series '{name}' {what}: it is not sent. The jar and the native \
             library come from different releases; install both from one (later ones are \
             not logged)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Filters;
    use crate::identity::Identity;
    use crate::sample::is_stale;
    use crate::snapshot::{decode_into, Encoder};

    fn driver_identity(app_id: &str) -> Identity {
        Identity::from_pairs(
            &[
                ("app_id", app_id),
                ("app_name", "etl"),
                ("executor_id", "driver"),
                ("namespace", app_id),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn driver_labels(url: &str) -> SinkLabels {
        let mut labels = SinkLabels::new(url, vec![], Filters::default());
        labels.set_identity(driver_identity("app-1"));
        labels
    }

    fn snapshot(build: impl FnOnce(&mut Encoder)) -> Snapshot {
        let mut e = Encoder::default();
        e.begin(1_000, false);
        build(&mut e);
        let mut s = Snapshot::default();
        decode_into(&e.buf, &mut s).expect("decodes");
        s
    }

    fn label<'a>(s: &'a Sample, name: &str) -> Option<&'a str> {
        let found = s.series.labels.iter().find(|l| l.name == name);
        found.map(|l| l.value.as_str())
    }

    #[test]
    fn a_defined_series_gets_its_family_labels_and_the_drivers_identity() {
        let labels = driver_labels("test:signals-labels");
        let mut signals = SignalSeries::default();
        let mut out = Vec::new();
        let first = snapshot(|e| {
            e.signal_define(0, "spark_jobs_total", &["nightly", "failed"]);
            e.signal(0, 2.0);
            e.signal_define(1, "spark_job_duration_seconds_bucket", &["nightly", "30"]);
            e.signal(1, 1.0);
        });
        signals.append(&first, &labels, 1_000, &mut out);
        // Each counter starts with a 0 just before its first value, so increase() sees the step.
        let zeros: Vec<&Sample> = out.iter().filter(|s| s.timestamp_ms == 999).collect();
        assert_eq!(zeros.len(), 2);
        assert!(zeros.iter().all(|s| s.value == 0.0));
        // ... and says it started then (remote write 2.0's start timestamp).
        assert!(out.iter().all(|s| s.series.start_ms == 999));
        out.retain(|s| s.timestamp_ms == 1_000);
        assert_eq!(out.len(), 2);
        assert_eq!(label(&out[0], "__name__"), Some("spark_jobs_total"));
        assert_eq!(label(&out[0], "spark_job"), Some("nightly"));
        assert_eq!(label(&out[0], "outcome"), Some("failed"));
        assert_eq!(label(&out[0], "role"), Some("driver"));
        assert_eq!(label(&out[0], "app_id"), Some("app-1"));
        assert_eq!(out[0].value, 2.0);
        assert_eq!(
            label(&out[1], "__name__"),
            Some("spark_job_duration_seconds_bucket")
        );
        assert_eq!(label(&out[1], "le"), Some("30"));
        assert_eq!(out[1].series.family.name, "spark_job_duration_seconds");

        // Later reports send values only.
        out.clear();
        signals.append(&snapshot(|e| e.signal(0, 3.0)), &labels, 2_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, 3.0);
    }

    #[test]
    fn unknown_names_and_wrong_label_counts_are_left_out() {
        let labels = driver_labels("test:signals-unknown");
        let mut signals = SignalSeries::default();
        let mut out = Vec::new();
        let s = snapshot(|e| {
            e.signal_define(0, "spark_made_up_total", &[]);
            e.signal(0, 1.0);
            e.signal_define(1, "spark_jobs_total", &["only-one-label"]);
            e.signal(1, 1.0);
        });
        signals.append(&s, &labels, 1_000, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_new_identity_ends_the_old_series_and_makes_them_again() {
        let mut labels = driver_labels("test:signals-relabel");
        let mut signals = SignalSeries::default();
        let mut out = Vec::new();
        let s = snapshot(|e| {
            e.signal_define(0, "spark_executors_added_total", &[]);
            e.signal(0, 2.0);
        });
        signals.append(&s, &labels, 1_000, &mut out);
        assert_eq!(out.len(), 2, "a 0 then the value");
        out.clear();
        labels.set_identity(driver_identity("app-2"));
        signals.relabel(1_500, &mut out);
        assert_eq!(out.len(), 1);
        assert!(is_stale(out[0].value));
        assert_eq!(label(&out[0], "app_id"), Some("app-1"));
        out.clear();
        signals.append(&snapshot(|e| e.signal(0, 3.0)), &labels, 2_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(label(&out[0], "app_id"), Some("app-2"));
    }

    #[test]
    fn an_ended_series_gets_one_stale_marker_and_its_id_and_claim_come_back() {
        let labels = driver_labels("test:signals-end");
        let other = driver_labels("test:signals-end");
        let mut signals = SignalSeries::default();
        let mut other_signals = SignalSeries::default();
        let mut out = Vec::new();
        let define = |e: &mut Encoder| {
            e.signal_define(0, "spark_streaming_batch_duration_seconds", &["q1"]);
            e.signal(0, 2.0);
        };
        signals.append(&snapshot(define), &labels, 1_000, &mut out);
        // Another sink of the JVM pushing to the same receiver is told no.
        let mut taken = Vec::new();
        other_signals.append(&snapshot(define), &other, 1_000, &mut taken);
        assert!(taken.is_empty());

        out.clear();
        let ended = snapshot(|e| {
            e.signal_end(0);
            e.signal_define(0, "spark_streaming_batch_duration_seconds", &["q2"]);
            e.signal(0, 3.0);
        });
        signals.append(&ended, &labels, 2_000, &mut out);
        assert_eq!(out.len(), 2);
        assert!(is_stale(out[0].value));
        assert_eq!(label(&out[0], "query"), Some("q1"));
        assert_eq!(label(&out[1], "query"), Some("q2"));
        assert_eq!(out[1].value, 3.0);
        // q1's claim is free again: the other sink may export it now.
        other_signals.append(&snapshot(define), &other, 3_000, &mut taken);
        assert_eq!(taken.len(), 1);
    }

    /// Every (name, value, stale?) of a report, sorted, for comparing reports.
    fn sent(out: &[Sample]) -> Vec<(String, i64, String)> {
        let mut list: Vec<(String, i64, String)> = out
            .iter()
            .map(|s| {
                let labels: Vec<String> = s.series.labels.iter().map(|l| l.value.clone()).collect();
                let value = if is_stale(s.value) {
                    "stale".into()
                } else {
                    s.value.to_string()
                };
                (labels.join(","), s.timestamp_ms, value)
            })
            .collect();
        list.sort();
        list
    }

    /// A names reset (the Java side's buffer overflowed, or the core dropped a snapshot): the
    /// Java side defines its live series again under new ids. Each goes on: no 0 before its next
    /// value (Prometheus would read a reset: increase() of a failed-jobs counter that never moved
    /// was 2.25 and failure alerts fired), no stale marker; the one it did not define again (it
    /// ended meanwhile, its end lost with the old ids) ends.
    #[test]
    fn a_names_reset_continues_every_series_and_ends_only_those_not_defined_again() {
        let labels = driver_labels("test:signals-names-reset");
        let mut signals = SignalSeries::default();
        let mut out = Vec::new();
        let first = snapshot(|e| {
            e.signal_define(0, "spark_jobs_total", &["load", "failed"]);
            e.signal(0, 1.0);
            e.signal_define(1, "spark_streaming_batches_total", &["q1"]);
            e.signal(1, 7.0);
        });
        signals.append(&first, &labels, 1_000, &mut out);
        assert_eq!(out.len(), 4, "each counter's 0, then its value");
        out.clear();
        let mut e = Encoder::default();
        e.begin(2_000, true);
        // Renumbered: the failed-jobs counter is now id 5; q1 ended and is not defined again.
        e.signal_define(5, "spark_jobs_total", &["load", "failed"]);
        e.signal(5, 1.0);
        let mut reset = Snapshot::default();
        decode_into(&e.buf, &mut reset).expect("decodes");
        signals.append(&reset, &labels, 2_000, &mut out);
        let report = sent(&out);
        assert_eq!(report.len(), 2, "{report:?}");
        assert!(
            report
                .iter()
                .any(|(l, ts, v)| l.contains("load") && *ts == 2_000 && v == "1"),
            "{report:?}"
        );
        assert!(
            report
                .iter()
                .any(|(l, _, v)| l.contains("q1") && v == "stale"),
            "{report:?}"
        );
        assert_eq!(signals.live_series(), 1);
        // Its claim stayed with this sink: another sink still cannot take the series.
        let other = driver_labels("test:signals-names-reset");
        let mut taken = Vec::new();
        SignalSeries::default().append(
            &snapshot(|e| {
                e.signal_define(0, "spark_jobs_total", &["load", "failed"]);
                e.signal(0, 1.0);
            }),
            &other,
            2_500,
            &mut taken,
        );
        assert!(taken.is_empty());
    }

    /// A streaming query stopped and started again under its name within one report: were its
    /// end and its new definition both to arrive, the series goes on (a stale marker, a 0 a
    /// millisecond earlier and a value at the marker's time would be refused as out of order).
    #[test]
    fn an_end_and_a_definition_of_one_series_in_one_report_go_on_as_one() {
        let labels = driver_labels("test:signals-restart");
        let mut signals = SignalSeries::default();
        let mut out = Vec::new();
        signals.append(
            &snapshot(|e| {
                e.signal_define(0, "spark_streaming_batches_total", &["q1"]);
                e.signal(0, 3.0);
            }),
            &labels,
            1_000,
            &mut out,
        );
        out.clear();
        signals.append(
            &snapshot(|e| {
                e.signal_end(0);
                e.signal_define(1, "spark_streaming_batches_total", &["q1"]);
                e.signal(1, 4.0);
            }),
            &labels,
            2_000,
            &mut out,
        );
        assert_eq!(sent(&out).len(), 1, "{:?}", sent(&out));
        assert_eq!((out[0].timestamp_ms, out[0].value), (2_000, 4.0));
    }

    /// A series the Java side defines as one that goes on (not made at 0: a counter continuing
    /// its last value after its end) gets no 0 before its value.
    #[test]
    fn a_series_defined_as_going_on_gets_no_zero() {
        let labels = driver_labels("test:signals-goes-on");
        let mut signals = SignalSeries::default();
        let mut out = Vec::new();
        signals.append(
            &snapshot(|e| {
                e.signal_redefine(0, "spark_streaming_batches_total", &["q1"]);
                e.signal(0, 9.0);
            }),
            &labels,
            1_000,
            &mut out,
        );
        assert_eq!(sent(&out).len(), 1);
        assert_eq!(out[0].value, 9.0);
        assert_eq!(out[0].series.start_ms, 0, "its start is not known here");
    }

    #[test]
    fn series_beyond_the_budget_are_counted_and_made_once_room_comes_back() {
        let labels = driver_labels("test:signals-budget").with_budget(1);
        let mut signals = SignalSeries::default();
        let mut out = Vec::new();
        let two_queries = snapshot(|e| {
            e.signal_define(0, "spark_streaming_batch_duration_seconds", &["q1"]);
            e.signal(0, 1.0);
            e.signal_define(1, "spark_streaming_batch_duration_seconds", &["q2"]);
            e.signal(1, 2.0);
        });
        signals.append(&two_queries, &labels, 1_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(label(&out[0], "query"), Some("q1"));
        assert_eq!((signals.live_series(), signals.over_limit), (1, 1));
        // Still no room: q2 stays out and is not counted twice.
        out.clear();
        signals.append(&snapshot(|e| e.signal(1, 3.0)), &labels, 2_000, &mut out);
        assert!(out.is_empty());
        assert_eq!(signals.over_limit, 1);
        // q1 ends: its place goes to q2.
        out.clear();
        let ended = snapshot(|e| {
            e.signal_end(0);
            e.signal(1, 4.0);
        });
        signals.append(&ended, &labels, 3_000, &mut out);
        let values: Vec<(Option<&str>, bool)> = out
            .iter()
            .map(|s| (label(s, "query"), is_stale(s.value)))
            .collect();
        assert_eq!(values, [(Some("q1"), true), (Some("q2"), false)]);
        assert_eq!(signals.live_series(), 1);
    }

    #[test]
    fn every_family_the_java_side_names_is_declared_here() {
        let java = ["SparkSignals.java", "StreamingSignals.java"]
            .map(|file| {
                let path = format!(
                    "{}/jvm-shim/src/io/sparkprom/{file}",
                    env!("CARGO_MANIFEST_DIR")
                );
                std::fs::read_to_string(path).expect("the Java source is in the repository")
            })
            .join("\n");
        let named: Vec<&str> = java
            .split('"')
            .filter(|s| {
                (s.starts_with("spark_") || s.starts_with("sparkprom_"))
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    // A label's name as a value (sparkprom_listener_keys_folded_total{label=...}).
                    && !crate::label_names::is_ours(s)
            })
            .collect();
        assert!(named.len() > 20, "found {named:?}");
        for name in &named {
            let declared = lookup(name).is_some() || FAMILIES.iter().any(|f| f.name == *name);
            assert!(declared, "{name} is not declared in signals.rs");
        }
        for f in FAMILIES {
            assert!(
                named.contains(&f.name),
                "{} is not sent by SparkSignals",
                f.name
            );
        }
    }
}

/// The "Listener families" section of docs/metrics-reference.md, from [`FAMILIES`].
pub fn reference_section() -> String {
    let mut out = String::from(
        "## Listener families\n\n\
         <!-- Generated from native/src/signals.rs: SPARKPROM_UPDATE_REFERENCE=1 cargo test --release --lib signals -->\n\n\
         The driver's sink sends these from Spark's listener bus (`listener.enabled`, on by default), with\n\
         the driver's identity labels and `role=\"driver\"`, on every Spark line. `spark_job` is the job group, else\n\
         the description, else the call site (dates, ids and long numbers masked); `stage` is the stage's\n\
         name. Histograms have `_bucket` (with `le`), `_sum` and `_count`.\n\n\
         How many series, at most, with k = `listener.maxKeys` (50): 20 per job key (`spark_jobs_total` by\n\
         outcome, the job-duration histogram and the two running-job gauges) for k + 2 keys (with `other` and\n\
         `unknown`), 64 per `spark_job`+`stage` pair for k + 2 pairs, 96 of `spark_tasks_total` (3 outcomes, 30\n\
         reasons, `other`, `none`), 13 of executors, 2 of the application and 9 self-metrics: 84 (k + 2) + 120,\n\
         so 4,488 at k = 50. tests/jvm/io/sparkprom/SignalsCheck.java holds 1,000 jobs of unique descriptions\n\
         to it. Structured Streaming adds 3 (`spark_streaming_queries_total`) and, per running query, about 17\n\
         (8 or so phases) + 3 per stateful operator + 1 per source that reports a backlog (2 for Delta's files and bytes); a query's series end\n\
         with stale markers when it stops, so only running queries count.\n\n\
         | metric | type | unit | labels | from | meaning |\n|---|---|---|---|---|---|\n",
    );
    for f in FAMILIES {
        let kind = match f.metric_type {
            Counter => "counter",
            Gauge => "gauge",
            _ => "histogram",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            f.name,
            kind,
            f.unit,
            f.labels
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            f.source,
            f.help.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod reference {
    const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics-reference.md");

    #[test]
    fn the_reference_lists_every_listener_family() {
        let text = std::fs::read_to_string(REFERENCE).expect("docs/metrics-reference.md");
        let start = text.find("## Listener families").unwrap_or(text.len());
        // The node section (node/reference.rs) follows this one.
        let end = text[start..]
            .find("## Node, container and process families")
            .map_or(text.len(), |at| start + at);
        let section = super::reference_section();
        if std::env::var_os("SPARKPROM_UPDATE_REFERENCE").is_some() {
            let rest = &text[end..];
            let updated = format!(
                "{}\n\n{section}{}{rest}",
                text[..start].trim_end(),
                if rest.is_empty() { "" } else { "\n" }
            );
            std::fs::write(REFERENCE, updated).expect("writes the reference");
            return;
        }
        assert_eq!(
            text[start..end].trim_end(),
            section.trim_end(),
            "docs/metrics-reference.md's listener section is out of date: \
             SPARKPROM_UPDATE_REFERENCE=1 cargo test --release --lib signals"
        );
    }
}
