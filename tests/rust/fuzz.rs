//! Fuzzing the two inputs that cross from the JVM into the core: the snapshot stream (taken by
//! the ingest thread's own code: decoded, relabelled, applied to the Spark names' table, the
//! driver listener's series and the self-metrics, queued) and the properties blob.
//!
//! Mutation-based, on stable Rust (proptest): each case takes a seed from the corpus in
//! `tests/rust/fuzz-corpus/` (real-shaped inputs: `cargo test --test fuzz -- --ignored` writes
//! them again) and applies up to 12 byte-level mutations that aim at the format's weak points:
//! lengths and ids overwritten with boundary numbers, cut records, spliced copies, random bytes.
//! Every input must end in `Ok` or an error: never a panic, and never one allocation above
//! [`LARGEST_ALLOCATION`] (an allocator below watches every request of this test binary).
//!
//! Cases per target: `SPARKPROM_FUZZ_CASES` (default 20,000; tests/run.sh sets the CI figure).
//! A failure is shrunk and written to `tests/rust/fuzz.proptest-regressions`, which is kept in
//! the repository and replayed first on every run.

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, FileFailurePersistence, TestRunner};

use std::sync::Arc;

use sparkprom::config::Config;
use sparkprom::identity::Identity;
use sparkprom::ingest::{Ingest, IngestLinks};
use sparkprom::queue::SampleQueue;
use sparkprom::snapshot::{decode_into, Encoder, Snapshot, Value};

/// The largest single allocation a malformed input may cause. The largest legitimate ones are
/// an identity record of 65,535 pairs (about 3 MiB) and a name table 65,536 ids beyond the
/// highest defined one; anything larger means a number from the input sized an allocation.
const LARGEST_ALLOCATION: usize = 16 << 20;

struct Watching;

thread_local! {
    /// The largest allocation of this thread since the mark: each target runs on its own test
    /// thread, in parallel with the other, so a shared watermark would mix their figures.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    // try_with: no panic in the allocator while the thread's locals are being torn down.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: forwards every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/rust/fuzz-corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<_> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(seeds.len() >= 3, "the {target} corpus is missing");
    seeds
}

fn cases() -> u32 {
    std::env::var("SPARKPROM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// One change to an input; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    SetByte(usize, u8),
    /// A little-endian number written over 2, 4 or 8 bytes: where a length or an id was.
    Number(usize, u8, u64),
    Truncate(usize),
    Remove(usize, usize),
    Insert(usize, Vec<u8>),
    /// A copy of one part of the input put elsewhere: records and strings repeated or cut.
    Splice(usize, usize, usize),
}

/// Numbers at the edges of the format's fields.
const BOUNDARIES: [u64; 12] = [
    0,
    1,
    0x7f,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0xffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::SetByte(p, b)),
        (
            any::<usize>(),
            prop::sample::select(vec![2u8, 4, 8]),
            prop_oneof![prop::sample::select(BOUNDARIES.to_vec()), any::<u64>()]
        )
            .prop_map(|(p, w, n)| Mutation::Number(p, w, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Remove(p, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), any::<usize>(), 1usize..200)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn apply(input: &mut Vec<u8>, m: &Mutation) {
    let len = input.len().max(1);
    match m {
        Mutation::SetByte(p, b) => {
            if !input.is_empty() {
                input[p % len] = *b;
            }
        }
        Mutation::Number(p, width, n) => {
            let width = *width as usize;
            if input.len() >= width {
                let at = p % (input.len() - width + 1);
                input[at..at + width].copy_from_slice(&n.to_le_bytes()[..width]);
            }
        }
        Mutation::Truncate(p) => input.truncate(p % len),
        Mutation::Remove(p, n) => {
            let at = p % len;
            let end = (at + n).min(input.len());
            if at < end {
                input.drain(at..end);
            }
        }
        Mutation::Insert(p, bytes) => {
            let at = p % (input.len() + 1);
            input.splice(at..at, bytes.iter().copied());
        }
        Mutation::Splice(from, to, n) => {
            if !input.is_empty() {
                let from = from % input.len();
                let part = input[from..(from + n).min(input.len())].to_vec();
                let to = to % (input.len() + 1);
                input.splice(to..to, part);
            }
        }
    }
}

/// Inputs: a seed with mutations, or (one case in eight) bytes from nowhere.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 1..12),
    )
        .prop_map(|(mut input, mutations)| {
            for m in &mutations {
                apply(&mut input, m);
            }
            input
        });
    prop_oneof![7 => mutated, 1 => prop::collection::vec(any::<u8>(), 0..256)]
}

fn runner(name: &str) -> TestRunner {
    let cases = cases();
    eprintln!("fuzzing {name}: {cases} inputs");
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/rust/fuzz.proptest-regressions",
        ))),
        ..RunnerConfig::default()
    })
}

/// Starts watching this thread's allocations afresh.
fn mark_allocations() {
    LARGEST.with(|largest| largest.set(0));
}

/// Fails when one allocation of this thread since the mark was larger than LARGEST_ALLOCATION.
fn largest_allocation_since_the_mark() -> Result<(), TestCaseError> {
    let largest = LARGEST.with(|largest| largest.replace(0));
    prop_assert!(
        largest <= LARGEST_ALLOCATION,
        "one allocation of {largest} bytes"
    );
    Ok(())
}

/// An ingest thread's state (no threads: its reports are taken here) that has seen the
/// unmutated first report, so mutated later reports meet names, listener series, identity and
/// claims already in place, as on a running driver. `url` is the caller's own: claims are
/// JVM-wide, and the tests of this file run in parallel.
fn running_ingest(url: &str, first: &[u8]) -> Ingest {
    let (_, snapshots) = crossbeam_channel::bounded(1);
    let (spare_buffers, _) = crossbeam_channel::bounded(1);
    let config = Config {
        url: url.to_string(),
        max_series: 1_000,
        node_enabled: false,
        ..Config::default()
    };
    let mut ingest = Ingest::new(
        &config,
        IngestLinks {
            snapshots,
            spare_buffers,
            queue: Arc::new(SampleQueue::new(config.capacity)),
            stats: Arc::default(),
            metadata: Arc::default(),
            resend_names: Arc::default(),
        },
    );
    ingest.take_report(first);
    ingest
}

#[test]
fn snapshots_never_panic_nor_allocate_from_their_numbers() {
    let seeds = corpus("snapshot");
    let first = seeds[0].clone();
    // A sequence per case: later snapshots meet what earlier ones defined.
    let strategy = prop::collection::vec(inputs(seeds), 1..4);
    runner("the ingest of snapshots")
        .run(&strategy, |sequence| {
            let mut ingest = running_ingest("http://127.0.0.1:9/fuzz", &first);
            mark_allocations();
            for bytes in &sequence {
                ingest.take_report(bytes);
                prop_assert!(ingest.live_series() <= 1_000);
            }
            ingest.end();
            largest_allocation_since_the_mark()
        })
        .unwrap();
}

#[test]
fn properties_blobs_are_a_config_or_an_error_naming_a_property() {
    let strategy = inputs(corpus("properties"));
    runner("the properties blob")
        .run(&strategy, |blob| {
            mark_allocations();
            if let Err(e) = Config::from_blob(&blob) {
                let named = properties_named_by(&blob, &e.property);
                prop_assert!(
                    named,
                    "the error names no property the blob has or needs: {e}"
                );
                prop_assert!(e.to_string().contains(&format!("'{}'", e.property)), "{e}");
            }
            largest_allocation_since_the_mark()
        })
        .unwrap();
}

/// Whether `property` is one the blob sets, or one an error may name without it being set: `url`
/// (required), `*` (the blob is not UTF-8), and the checks of two properties together (a default
/// against the other's value) or of a group (`basicAuth.*`).
fn properties_named_by(blob: &[u8], property: &str) -> bool {
    const WITHOUT_BEING_SET: &[&str] = &[
        "url",
        "*",
        "maxSamplesPerSend",
        "minBackoff",
        "basicAuth.*",
        "sigv4.region",
    ];
    // Read as Config::from_blob reads it: an empty key is passed over, with no value after it.
    let mut parts = blob.split(|b| *b == 0);
    let mut keys: Vec<&[u8]> = Vec::new();
    while let Some(key) = parts.next() {
        if key.is_empty() {
            continue;
        }
        keys.push(key);
        parts.next();
    }
    WITHOUT_BEING_SET.contains(&property) || keys.contains(&property.as_bytes())
}

/// The seeds themselves are what the Java side sends: they decode and parse cleanly.
#[test]
fn the_corpus_is_valid_input() {
    for bytes in corpus("snapshot") {
        decode_into(&bytes, &mut Snapshot::default()).unwrap();
    }
    // The first report's identity splits its names as the Java side's would, and its listener
    // series are made: the fuzzed reports reach both.
    let ingest = running_ingest("http://127.0.0.1:9/corpus", &corpus("snapshot")[0]);
    assert!(ingest.live_series() > 14, "{} series", ingest.live_series());
    let mut snapshot = Snapshot::default();
    decode_into(&corpus("snapshot")[0], &mut snapshot).unwrap();
    let identity = Identity::from_pairs(snapshot.identity.as_ref().unwrap());
    assert_eq!(
        identity.split_name("app-1.3.executor.cpuTime"),
        Some(("executor", "executor.cpuTime"))
    );
    for blob in corpus("properties") {
        Config::from_blob(&blob).unwrap();
    }
}

/// Writes the corpus again: `cargo test --test fuzz -- --ignored write_the_corpus`.
#[test]
#[ignore]
fn write_the_corpus() {
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let quantiles = [1.0, 2.0, 3.5, 8.0, 9.0, 120.0];
    let names = [
        "app-1.3.executor.cpuTime",
        "app-1.3.executor.succeededTasks",
        "app-1.3.JVMCPU.jvmCpuTime",
        "app-1.3.ExecutorMetrics.JVMHeapMemory",
        "app-1.3.HiveExternalCatalog.fileCacheHits",
        "app-1.3.CodeGenerator.compilationTime",
        "app-1.3.CodeGenerator.generatedClassSize",
        "app-1.driver.executor.filesystem.hdfs.read_bytes",
        "app-1.driver.spark.streaming.query-1.inputRate-total",
        "app-1.driver.LiveListenerBus.queue.appStatus.listenerProcessingTime",
    ];
    let values = [
        Value::Counter(123_456_789),
        Value::Counter(42),
        Value::Gauge(9.87e9),
        Value::Gauge(1.5e8),
        Value::Counter(7),
        Value::Histogram {
            count: 5,
            quantiles,
        },
        Value::Histogram {
            count: 11,
            quantiles,
        },
        Value::Gauge(0.0),
        Value::Skipped,
        Value::Timer {
            count: 1000,
            quantiles,
        },
    ];
    // The keys SparkIdentity.java sends, so names are split as on a real executor (executor 3's
    // names) and the driver's listener series follow them (a local-mode JVM has both).
    let identity = [
        ("app_id", "app-1"),
        ("app_name", "nightly etl"),
        ("executor_id", "3"),
        ("namespace", "app-1"),
        ("label.pod", "etl-exec-3"),
    ];
    // What SparkSignals sends: counters, a histogram's series, gauges, a streaming query's.
    let signals: [(&str, &[&str]); 6] = [
        ("spark_jobs_total", &["nightly-<date>", "failed"]),
        (
            "spark_job_duration_seconds_bucket",
            &["nightly-<date>", "30"],
        ),
        (
            "spark_stages_total",
            &["nightly-<date>", "collect at etl.py:12", "cancelled"],
        ),
        ("spark_tasks_total", &["failed", "executor_lost"]),
        ("spark_streaming_batches_total", &["orders"]),
        ("spark_streaming_query_start_time_seconds", &["orders"]),
    ];
    let mut e = Encoder::default();
    e.begin(1_764_000_000_000, true);
    e.identity(&identity);
    for (id, (name, value)) in names.iter().zip(values).enumerate() {
        e.define(id as u32, name);
        e.reading(id as u32, value);
    }
    for (id, (name, labels)) in signals.iter().enumerate() {
        e.signal_define(id as u32, name, labels);
        e.signal(id as u32, 3.0 + id as f64);
    }
    write("snapshot", "1-first-report.bin", &e.buf);
    e.begin(1_764_000_010_000, false);
    for (id, value) in values.iter().enumerate() {
        e.reading(id as u32, *value);
    }
    e.define(10, "app-1.3.executor.shuffleRecordsRead");
    e.reading(10, Value::Counter(3));
    // The query restarted under its name: its series ended and defined again as going on.
    e.signal_end(4);
    e.signal_redefine(6, "spark_streaming_batches_total", &["orders"]);
    for id in [0, 1, 2, 3, 5, 6] {
        e.signal(id, 9.0);
    }
    write("snapshot", "2-later-report.bin", &e.buf);
    e.begin(1_764_000_020_000, false);
    e.identity(&identity[..2]);
    e.reading(2, Value::Gauge(f64::NAN));
    e.reading(9, Value::Meter(-1));
    e.signal(0, f64::INFINITY);
    write("snapshot", "3-identity-change.bin", &e.buf);
    // The Java side numbered everything afresh (its buffer grew): the same series, new ids.
    e.begin(1_764_000_030_000, true);
    for (id, (name, value)) in names.iter().zip(values).enumerate().rev() {
        e.define(id as u32, name);
        e.reading(id as u32, value);
    }
    for (id, (name, labels)) in signals.iter().enumerate() {
        e.signal_redefine(10 + id as u32, name, labels);
        e.signal(10 + id as u32, 20.0);
    }
    write("snapshot", "4-names-reset.bin", &e.buf);

    let blob = |pairs: &[(&str, &str)]| {
        let mut out = Vec::new();
        for (k, v) in pairs {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    };
    write(
        "properties",
        "1-minimal.blob",
        &blob(&[("url", "http://127.0.0.1:9090/api/v1/write")]),
    );
    write(
        "properties",
        "2-filters-labels.blob",
        &blob(&[
            ("url", "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"),
            ("labels", "team=data,env=prod"),
            ("include", "^spark_(executor|driver)_|^node_cpu"),
            ("exclude", "_quantile$"),
            ("headers", "X-Scope-OrgID=tenant-1"),
            ("maxSeries", "10000"),
            ("sparkprom.periodMillis", "10000"),
        ]),
    );
    write(
        "properties",
        "3-every-number.blob",
        &blob(&[
            ("url", "http://127.0.0.1:9090/api/v1/write"),
            ("capacity", "100000"),
            ("maxSamplesPerSend", "2000"),
            ("batchDeadline", "5s"),
            ("minBackoff", "30ms"),
            ("maxBackoff", "5s"),
            ("timeout", "30s"),
            ("flushTimeout", "10s"),
            ("node.enabled", "true"),
            ("node.period", "15s"),
            ("logLevel", "warn"),
            ("class", "io.sparkprom.RemoteWriteSink"),
        ]),
    );
}
