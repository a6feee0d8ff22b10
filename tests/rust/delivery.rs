//! Delivery under faults, end to end through the core: snapshots in the JVM's format go into a
//! real `Sink` (threads, queue, HTTP client) and come out at a scripted receiver that decodes
//! them as Prometheus does. Each test checks exactly what arrived, in order.

// Test code: a failing unwrap is a failing test (Cargo.toml denies unwrap elsewhere).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sparkprom::config::{Config, Protocol};
use sparkprom::remote_write::proto::TimeSeries;
use sparkprom::sink::{Sink, SubmitStatus};
use sparkprom::snapshot::{Encoder, Value};
use support::{FakeReceiver, Received, Reply, ReservedPort, Takes};

const GAUGES: u32 = 3;

fn config(url: &str) -> Config {
    Config {
        url: url.to_string(),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        batch_deadline: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        flush_timeout: Duration::from_secs(10),
        // Delivery is what these tests count; node statistics have their own test below.
        node_enabled: false,
        ..Config::default()
    }
}

/// Snapshot `n` of an executor with GAUGES gauges whose value is `n`, at time 1000 * (n + 1).
fn snapshot(n: u32) -> Vec<u8> {
    let mut e = Encoder::default();
    e.begin(1_000 * (n as i64 + 1), n == 0);
    if n == 0 {
        e.identity(&[
            ("app_id", "app-1"),
            ("executor_id", "4"),
            ("namespace", "app-1"),
        ]);
    }
    for id in 0..GAUGES {
        if n == 0 {
            e.define(id, &format!("app-1.4.test.gauge{id}"));
        }
        e.reading(id, Value::Gauge(n as f64));
    }
    e.buf
}

/// A series' metric name.
fn name_of(series: &TimeSeries) -> &str {
    series
        .labels
        .iter()
        .find(|l| l.name == "__name__")
        .map(|l| l.value.as_str())
        .unwrap_or_default()
}

/// Accepted samples of the test's Spark series: name -> [(timestamp, value)] in arrival order.
fn accepted_spark_samples(received: &[Received]) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for r in received.iter().filter(|r| r.accepted()) {
        for ts in &r.request.timeseries {
            let name = name_of(ts).to_string();
            if name.starts_with("spark_") {
                out.entry(name)
                    .or_default()
                    .extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
            }
        }
    }
    out
}

fn total_accepted_samples(received: &[Received]) -> u64 {
    received
        .iter()
        .filter(|r| r.accepted())
        .flat_map(|r| &r.request.timeseries)
        .map(|ts| ts.samples.len() as u64)
        .sum()
}

/// Every series has the values of snapshots `first..count` in timestamp order, then its stale marker.
/// And the receiver refused nothing of what the sink sent.
fn assert_complete_and_ordered(received: &[Received], first: u32, count: u32) {
    let refused: Vec<&String> = received.iter().filter_map(|r| r.refusal.as_ref()).collect();
    assert!(refused.is_empty(), "the receiver refused: {refused:?}");
    assert_complete_and_ordered_as_accepted(received, first, count);
}

fn assert_complete_and_ordered_as_accepted(received: &[Received], first: u32, count: u32) {
    let samples = accepted_spark_samples(received);
    assert_eq!(samples.len(), GAUGES as usize, "{samples:?}");
    for (name, values) in samples {
        let (stale, values) = values.split_last().unwrap();
        assert!(stale.1.is_nan(), "{name} ends with a stale marker");
        let expected: Vec<(i64, f64)> = (first..count)
            .map(|n| (1_000 * (n as i64 + 1), n as f64))
            .collect();
        assert_eq!(values, expected.as_slice(), "{name}");
        assert!(stale.0 > values.last().unwrap().0);
    }
}

/// Submits snapshots the way Spark's reporter does, one at a time: each is taken by the ingest
/// thread before the next (a real period is >= 1 s), whatever the machine's load.
fn run(sink: &Sink, snapshots: std::ops::Range<u32>) {
    for n in snapshots {
        submit_and_wait(sink, &snapshot(n));
    }
}

fn submit_and_wait(sink: &Sink, snapshot: &[u8]) {
    assert_eq!(sink.submit(snapshot), SubmitStatus::Accepted);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sink.snapshots_waiting() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the ingest thread took no snapshot"
        );
        std::thread::yield_now();
    }
}

#[test]
fn requests_carry_the_headers_the_remote_write_spec_requires() {
    let receiver = FakeReceiver::start(vec![]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..1);
    sink.close(None);
    // node.enabled=false (see config()): no node statistics, and no thread collecting them.
    let names: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|r| r.request.timeseries.iter())
        .map(|t| name_of(t).to_string())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("node_") || n.starts_with("process_")),
        "{names:?}"
    );
    let headers = &receiver.received()[0].headers;
    let get = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("content-encoding"), Some("snappy"));
    assert_eq!(get("content-type"), Some("application/x-protobuf"));
    assert_eq!(get("x-prometheus-remote-write-version"), Some("0.1.0"));
    assert!(get("user-agent").unwrap().starts_with("sparkprom/"));
}

#[test]
fn server_errors_are_retried_until_accepted_without_loss_or_reordering() {
    let receiver = FakeReceiver::start(vec![
        Reply::Status(500),
        Reply::Status(503),
        Reply::Status(502),
    ]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..5);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    let received = receiver.received();
    assert_complete_and_ordered(&received, 0, 5);
    assert!(stats.retries.load(Ordering::Relaxed) >= 3);
    assert_eq!(
        stats.samples_sent.load(Ordering::Relaxed),
        total_accepted_samples(&received)
    );
}

#[test]
fn too_many_requests_waits_for_retry_after_then_retries() {
    let receiver = FakeReceiver::start(vec![Reply::StatusWithHeader(429, "retry-after", "1")]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..1);
    sink.close(None);
    let received = receiver.received();
    assert!(received.len() >= 2);
    let waited = received[1].at - received[0].at;
    // Retry-After: 1 second, never less (the jitter only adds, at most 20%); the first `at` is
    // taken before the answer went out, so the wait is measured from earlier than it began.
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1_500),
        "retried after {waited:?}"
    );
    assert_complete_and_ordered(&received, 0, 1);
}

#[test]
fn bad_request_is_not_retried_and_later_batches_still_go_out() {
    let receiver = FakeReceiver::start(vec![Reply::Status(400)]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..1);
    assert!(receiver.wait_for_requests(1, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(receiver.received().len(), 1, "a 400 must not be retried");
    let refused = total_accepted_samples(&receiver.received())
        + receiver.received()[0]
            .request
            .timeseries
            .iter()
            .map(|t| t.samples.len() as u64)
            .sum::<u64>();
    run(&sink, 1..3);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    assert_complete_and_ordered(&receiver.received(), 1, 3);
    assert_eq!(stats.samples_rejected.load(Ordering::Relaxed), refused);
}

#[test]
fn receiver_down_at_start_gets_everything_once_it_comes_up() {
    let down = ReservedPort::new();
    let sink = Sink::start(config(&down.url())).unwrap();
    run(&sink, 0..4);
    std::thread::sleep(Duration::from_millis(500));
    let receiver = down.listen(vec![]);
    run(&sink, 4..6);
    sink.close(None);
    assert_complete_and_ordered(&receiver.received(), 0, 6);
}

/// A receiver too slow for the timeout still stores the batch (it answers late); the batch sent
/// again then holds samples it already has and is refused as out of order, as Prometheus refuses
/// it. Nothing is lost and nothing arrives twice.
#[test]
fn stalled_receiver_times_out_and_the_batch_is_sent_again() {
    let receiver = FakeReceiver::start(vec![Reply::Stall(Duration::from_secs(2))]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..3);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    assert!(stats.retries.load(Ordering::Relaxed) >= 1);
    assert_complete_and_ordered_as_accepted(&receiver.received(), 0, 3);
}

#[test]
fn connection_resets_are_retried() {
    let receiver = FakeReceiver::start(vec![Reply::Reset, Reply::Reset]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..3);
    sink.close(None);
    assert_complete_and_ordered(&receiver.received(), 0, 3);
}

#[test]
fn full_queue_keeps_the_newest_samples_and_counts_every_dropped_one() {
    let down = ReservedPort::new();
    let mut cfg = config(&down.url());
    // Room for the last snapshot's samples and the stale markers that follow them at close
    // (about 20 each, with the self-metrics), far less than the 20 snapshots pushed.
    cfg.capacity = 80;
    cfg.max_samples_per_send = 10;
    let sink = Sink::start(cfg).unwrap();
    let snapshots = 20;
    run(&sink, 0..snapshots);
    std::thread::sleep(Duration::from_millis(300));
    let receiver = down.listen(vec![]);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    let received = receiver.received();
    // What went in: the Spark gauges and the self-metrics of each snapshot, and one stale marker
    // per series at the end. Whatever did not arrive was counted as dropped.
    let self_series = received
        .iter()
        .flat_map(|r| &r.request.timeseries)
        .filter(|t| name_of(t).starts_with("sparkprom_"))
        .map(|t| t.labels.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let series = GAUGES as u64 + self_series;
    let enqueued = snapshots as u64 * series + series;
    let dropped = stats.samples_dropped_capacity.load(Ordering::Relaxed);
    assert!(dropped > 0);
    assert_eq!(total_accepted_samples(&received) + dropped, enqueued);
    // The survivors are the newest: each series' values are an unbroken run up to the last.
    for (name, values) in accepted_spark_samples(&received) {
        let values: Vec<i64> = values
            .iter()
            .filter(|v| !v.1.is_nan())
            .map(|v| v.0)
            .collect();
        let newest = 1_000 * snapshots as i64;
        assert_eq!(values.last(), Some(&newest), "{name}");
        // Apart from snapshot 0's, in flight when the queue overflowed, the rest is one run.
        let run = values.strip_prefix(&[1_000]).unwrap_or(&values);
        assert!(
            run.windows(2).all(|w| w[1] == w[0] + 1_000),
            "{name}: {values:?}"
        );
    }
}

#[test]
fn closing_with_the_receiver_down_gives_up_at_the_flush_deadline() {
    let down = ReservedPort::new();
    let sink = Sink::start(config(&down.url())).unwrap();
    run(&sink, 0..2);
    let stats = std::sync::Arc::clone(&sink.stats);
    let started = std::time::Instant::now();
    sink.close(Some(Duration::from_millis(300)));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "close took {took:?}");
    assert_eq!(stats.samples_sent.load(Ordering::Relaxed), 0);
    assert!(stats.samples_failed.load(Ordering::Relaxed) > 0);
}

#[test]
fn metadata_of_every_family_arrives_once_with_its_type() {
    let receiver = FakeReceiver::start(vec![]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..3);
    sink.close(None);
    let metadata: Vec<_> = receiver
        .received()
        .iter()
        .flat_map(|r| r.request.metadata.clone())
        .collect();
    let gauges: Vec<_> = metadata
        .iter()
        .filter(|m| m.metric_family_name.starts_with("spark_test_gauge"))
        .collect();
    assert_eq!(gauges.len(), GAUGES as usize, "{metadata:?}");
    assert!(gauges
        .iter()
        .all(|m| m.r#type == sparkprom::remote_write::proto::MetricType::Gauge as i32));
    let sent = metadata
        .iter()
        .find(|m| m.metric_family_name == "sparkprom_samples_sent_total")
        .unwrap();
    assert_eq!(
        sent.r#type,
        sparkprom::remote_write::proto::MetricType::Counter as i32
    );
    assert!(!sent.help.is_empty());
}

#[test]
fn node_statistics_arrive_with_the_host_as_instance_and_the_jvm_identity() {
    let receiver = FakeReceiver::start(vec![]);
    let mut cfg = config(&receiver.url());
    cfg.node_enabled = true;
    cfg.node_period = Some(Duration::from_secs(1));
    cfg.node_instance = Some("node-a".into());
    let sink = Sink::start(cfg).unwrap();
    run(&sink, 0..1);
    std::thread::sleep(Duration::from_millis(1500));
    sink.close(None);
    let series: Vec<_> = receiver
        .received()
        .iter()
        .flat_map(|r| r.request.timeseries.clone())
        .collect();
    let cpu = series
        .iter()
        .find(|t| name_of(t) == "node_cpu_seconds_total")
        .expect("node_cpu_seconds_total arrived");
    let get = |name: &str| {
        cpu.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    };
    assert_eq!(get("instance"), Some("node-a"));
    assert_eq!(get("executor_id"), Some("4"));
    assert!(get("cpu").is_some() && get("mode").is_some());
    let samples: Vec<f64> = series
        .iter()
        .filter(|t| t.labels == cpu.labels)
        .flat_map(|t| t.samples.iter().map(|s| s.value))
        .collect();
    assert!(samples[0] > 0.0);
    assert!(
        samples.last().unwrap().is_nan(),
        "ends with a stale marker: {samples:?}"
    );
}

/// A snapshot the core cannot decode takes its name definitions with it: the next report is told
/// to define every name again (and then is delivered), instead of those metrics vanishing.
#[test]
fn an_undecodable_snapshot_makes_the_next_report_resend_every_name() {
    let receiver = FakeReceiver::start(vec![]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    assert_eq!(
        sink.submit(b"SPK1 but not a snapshot"),
        SubmitStatus::Accepted
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut status = SubmitStatus::Accepted;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        // Later snapshots refer to names by id only: they cannot stand alone.
        status = sink.submit(&snapshot(1));
        if status != SubmitStatus::Accepted {
            break;
        }
    }
    assert_eq!(status, SubmitStatus::DroppedResendNames);
    assert_eq!(sink.submit(&snapshot(0)), SubmitStatus::Accepted);
    sink.close(None);
    let delivered = accepted_spark_samples(&receiver.received());
    assert_eq!(delivered.len(), GAUGES as usize, "{delivered:?}");
}

/// A redirect is not followed (it would turn the POST into a body-less GET, or carry the
/// headers to another host): the batch counts as refused, nothing is sent twice, and the batches
/// after it still go out.
#[test]
fn a_redirect_is_a_refusal_and_is_not_followed() {
    let receiver = FakeReceiver::start(vec![Reply::StatusWithHeader(
        302,
        "location",
        "http://127.0.0.1:9/login",
    )]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    run(&sink, 0..1);
    assert!(receiver.wait_for_requests(1, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(receiver.received().len(), 1, "a 302 must not be retried");
    run(&sink, 1..3);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    assert_complete_and_ordered(&receiver.received(), 1, 3);
    assert!(stats.samples_rejected.load(Ordering::Relaxed) > 0);
    assert_eq!(
        stats.samples_sent.load(Ordering::Relaxed),
        total_accepted_samples(&receiver.received())
    );
}

/// Past the flush deadline the sender makes no further request, however much is still queued
/// (each could take a whole timeout), and gives the rest up at once.
#[test]
fn no_request_starts_after_the_flush_deadline() {
    let receiver = FakeReceiver::start(vec![Reply::Status(503); 10_000]);
    let mut cfg = config(&receiver.url());
    cfg.max_samples_per_send = 10;
    let sink = Sink::start(cfg).unwrap();
    run(&sink, 0..40);
    let stats = std::sync::Arc::clone(&sink.stats);
    let deadline = std::time::Instant::now() + Duration::from_millis(300);
    sink.close(Some(Duration::from_millis(300)));
    std::thread::sleep(Duration::from_millis(500));
    let late = receiver
        .received()
        .iter()
        .filter(|r| r.at > deadline + Duration::from_millis(50))
        .count();
    assert_eq!(late, 0, "requests after the flush deadline");
    assert_eq!(stats.samples_sent.load(Ordering::Relaxed), 0);
    assert!(stats.samples_failed.load(Ordering::Relaxed) > 0);
}

/// In the final flush, a batch whose retry cannot come before the deadline ends the flush: the
/// rest is given up at once, not sent back to back into a receiver that answers 429 (a whole
/// fleet does this at the end of a job).
#[test]
fn a_retry_that_cannot_fit_before_the_flush_deadline_gives_up_the_rest_at_once() {
    let receiver = FakeReceiver::start(vec![
        Reply::StatusWithHeader(429, "retry-after", "30");
        10_000
    ]);
    let mut cfg = config(&receiver.url());
    cfg.max_samples_per_send = 10;
    let sink = Sink::start(cfg).unwrap();
    run(&sink, 0..40);
    assert!(receiver.wait_for_requests(1, Duration::from_secs(5)));
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(Some(Duration::from_secs(2)));
    let requests = receiver.received().len();
    assert_eq!(
        requests, 1,
        "requests into a receiver answering 429 during the flush"
    );
    assert_eq!(stats.samples_sent.load(Ordering::Relaxed), 0);
    assert!(stats.samples_failed.load(Ordering::Relaxed) >= 40 * GAUGES as u64);
}

/// Reports stamped with one time (stop() right after a scheduled report) or an earlier one (a
/// clock stepped back) are still accepted whole: the receiver below refuses what Prometheus
/// refuses, a sample not after its series' last one among it.
#[test]
fn reports_with_one_timestamp_or_an_earlier_one_are_all_accepted() {
    let receiver = FakeReceiver::start(vec![]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    // Snapshot 0 (time 1000) defines the names afresh each time it comes; 1 is at time 2000.
    for n in [0, 1, 1, 0] {
        submit_and_wait(&sink, &snapshot(n));
    }
    sink.close(None);
    let received = receiver.received();
    let refused: Vec<_> = received.iter().filter_map(|r| r.refusal.clone()).collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert!(total_accepted_samples(&received) > 0);
}

/// A batch the receiver keeps refusing with 5xx (what Prometheus answers to a series with a label
/// twice) is given up after retryTimeout and counted, and the batches after it go out: it must not
/// hold the queue forever. An outage shorter than retryTimeout loses nothing.
#[test]
fn a_batch_refused_with_5xx_past_retry_timeout_is_given_up_and_the_next_goes_out() {
    let refusing = vec![Reply::Status(500); 400];
    let receiver = FakeReceiver::start(refusing);
    let sink = Sink::start(Config {
        retry_timeout: Duration::from_millis(400),
        ..config(&receiver.url())
    })
    .unwrap();
    run(&sink, 0..1);
    let stats = std::sync::Arc::clone(&sink.stats);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stats.samples_retry_timeout.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch was never given up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let given_up = stats.samples_retry_timeout.load(Ordering::Relaxed);
    let tried = receiver.received();
    // Given up after retryTimeout, not before (and not after a single try).
    let span = tried.last().unwrap().at - tried[0].at;
    assert!(
        tried.len() > 2 && span >= Duration::from_millis(300),
        "{} tries over {span:?}",
        tried.len()
    );
    // The receiver comes back (its script runs out: 204); the next batches are delivered.
    while receiver.received().len() < 400 {
        std::thread::sleep(Duration::from_millis(10));
        submit_and_wait(&sink, &snapshot(1));
        if stats.samples_sent.load(Ordering::Relaxed) > 0 {
            break;
        }
    }
    run(&sink, 2..3);
    sink.close(None);
    assert!(stats.samples_sent.load(Ordering::Relaxed) > 0);
    assert!(
        given_up >= u64::from(GAUGES),
        "the first batch's samples are counted: {given_up}"
    );
}

#[test]
fn an_outage_shorter_than_retry_timeout_loses_nothing() {
    let receiver = FakeReceiver::start(vec![Reply::Status(503); 30]);
    let sink = Sink::start(Config {
        retry_timeout: Duration::from_secs(30),
        ..config(&receiver.url())
    })
    .unwrap();
    run(&sink, 0..4);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    assert_complete_and_ordered(&receiver.received(), 0, 4);
    assert_eq!(stats.samples_retry_timeout.load(Ordering::Relaxed), 0);
}

/// The driver listener's series through a names reset (its snapshot buffer overflowed, or the core
/// dropped a snapshot): the receiver refuses nothing, and no counter goes down, not even to 0 and
/// back, which Prometheus reads as a reset (increase() of a failed-jobs counter that never moved
/// was 2.25, and failure alerts paged).
#[test]
fn listener_series_go_through_a_names_reset_without_a_reset_at_the_receiver() {
    let receiver = FakeReceiver::start(vec![]);
    let sink = Sink::start(config(&receiver.url())).unwrap();
    let report = |n: i64, reset: bool| {
        let mut e = Encoder::default();
        e.begin(1_000 * (n + 1), n == 0 || reset);
        if n == 0 {
            e.identity(&[
                ("app_id", "app-1"),
                ("app_name", "etl"),
                ("executor_id", "driver"),
                ("namespace", "app-1"),
            ]);
        }
        if n == 0 || reset {
            // What SignalTable sends: a series made at 0 says so in every definition.
            e.signal_define(
                if reset { 7 } else { 0 },
                "spark_jobs_total",
                &["load", "failed"],
            );
            e.signal_define(
                if reset { 3 } else { 1 },
                "spark_jobs_total",
                &["load", "succeeded"],
            );
        }
        // The ids the Java side gave after the reset.
        let (failed, succeeded) = if n >= 3 { (7, 3) } else { (0, 1) };
        e.signal(failed, 1.0);
        e.signal(succeeded, 2.0 + n as f64);
        e.buf
    };
    for n in 0..6 {
        submit_and_wait(&sink, &report(n, n == 3));
    }
    sink.close(None);
    let received = receiver.received();
    let refused: Vec<&String> = received.iter().filter_map(|r| r.refusal.as_ref()).collect();
    assert!(refused.is_empty(), "the receiver refused: {refused:?}");
    let mut jobs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in received.iter().filter(|r| r.accepted()) {
        for ts in r
            .request
            .timeseries
            .iter()
            .filter(|t| name_of(t) == "spark_jobs_total")
        {
            let outcome = ts
                .labels
                .iter()
                .find(|l| l.name == "outcome")
                .unwrap()
                .value
                .clone();
            jobs.entry(outcome)
                .or_default()
                .extend(ts.samples.iter().map(|s| s.value).filter(|v| !v.is_nan()));
        }
    }
    assert_eq!(
        jobs["failed"],
        [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "one 0 at its start, never again"
    );
    assert_eq!(jobs["succeeded"], [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
}

/// The receiver refuses what Prometheus refuses, so the tests above would see the sink send it.
#[test]
fn the_fake_receiver_refuses_what_prometheus_refuses() {
    use sparkprom::remote_write::proto::{Label, Sample, TimeSeries, WriteRequest};
    let series = |labels: &[(&str, &str)], samples: &[(i64, f64)]| TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                timestamp: *t,
                value: *v,
            })
            .collect(),
    };
    let good = [("__name__", "up"), ("job", "a")];
    let cases = [
        (
            "repeated label",
            500,
            series(
                &[("__name__", "up"), ("job", "a"), ("job", "b")],
                &[(1, 1.0)],
            ),
        ),
        (
            "unsorted labels",
            400,
            series(&[("job", "a"), ("__name__", "up")], &[(1, 1.0)]),
        ),
        (
            "empty value",
            400,
            series(&[("__name__", "up"), ("job", "")], &[(1, 1.0)]),
        ),
        (
            "bad metric name",
            400,
            series(&[("__name__", "1up"), ("job", "a")], &[(1, 1.0)]),
        ),
        (
            "bad label name",
            400,
            series(&[("__name__", "up"), ("jo-b", "a")], &[(1, 1.0)]),
        ),
        ("older sample", 400, series(&good, &[(5, 1.0), (4, 1.0)])),
        (
            "same time, other value",
            400,
            series(&good, &[(5, 1.0), (5, 2.0)]),
        ),
    ];
    for (what, status, bad) in cases {
        let receiver = FakeReceiver::start(vec![]);
        let body = snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&WriteRequest {
                timeseries: vec![bad],
                metadata: vec![],
            }))
            .unwrap();
        let answer = reqwest::blocking::Client::new()
            .post(receiver.url())
            .header("content-encoding", "snappy")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{what}");
        assert!(receiver.received()[0].refusal.is_some(), "{what}");
    }
}

/// `check` through the real client against the scripted receiver: an answer that retrying or
/// sending again does not mend names what to do (the sink's log lines carry the same hints).
#[test]
fn a_400_a_429_series_limit_and_a_501_each_say_what_to_do() {
    for (reply, expected) in [
        (
            Reply::StatusWithBody(400, "out of order sample"),
            "two writers send the same series",
        ),
        (
            Reply::StatusWithBody(429, "per-user series limit of 10000 exceeded"),
            "retrying does not clear it",
        ),
        (
            Reply::StatusWithBody(501, "Unsupported method ('POST')"),
            "not a remote-write endpoint",
        ),
    ] {
        let receiver = FakeReceiver::start(vec![reply.clone()]);
        let blob = format!("url\0{}\0", receiver.url());
        let verdict = sparkprom::check::run(blob.as_bytes());
        assert!(!verdict.accepted, "{reply:?}");
        let fail = verdict.lines.last().unwrap();
        assert!(
            fail.starts_with("FAIL") && fail.contains(expected),
            "{reply:?}: {:?}",
            verdict.lines
        );
    }
}

// Remote write 2.0 (protocol=2.0 and auto). The scripted receiver reads 2.0 as Prometheus 3.5
// does, or takes only 1.0 and answers a 2.0 request as Prometheus 2.42 (204, nothing stored),
// Prometheus 3.5 by default (415) or another 1.x receiver (400) does. The names in the comments
// are prometheus/compliance's remotewrite/sender cases each test mirrors.

fn with_protocol(url: &str, protocol: Protocol) -> Config {
    Config {
        protocol,
        ..config(url)
    }
}

/// The message each request was sent in, in order: true for 2.0.
fn versions(received: &[Received]) -> Vec<bool> {
    received.iter().map(Received::is_v2).collect()
}

fn samples_of(r: &Received) -> Vec<(String, i64, u64)> {
    r.request
        .timeseries
        .iter()
        .flat_map(|t| {
            t.samples
                .iter()
                .map(|s| (format!("{:?}", t.labels), s.timestamp, s.value.to_bits()))
        })
        .collect()
}

/// content_type_with_proto_param, version_header_value, content_encoding_snappy,
/// user_agent_present, snappy_block_format, protobuf_parseable, empty_string_at_index_zero,
/// metadata_type_counter, metadata_type_gauge, metadata_help_text, samples_with_metadata,
/// retry_on_500, retry_on_503, process_written_count_headers, TestNoFallbackOn2xx.
#[test]
fn protocol_2_0_arrives_whole_with_its_headers_symbols_and_metadata() {
    let receiver = FakeReceiver::start(vec![Reply::Status(500), Reply::Status(503)]);
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::V2)).unwrap();
    run(&sink, 0..3);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    let received = receiver.received();
    assert_complete_and_ordered(&received, 0, 3);
    assert!(stats.retries.load(Ordering::Relaxed) >= 2);
    assert_eq!(
        stats.samples_sent.load(Ordering::Relaxed),
        total_accepted_samples(&received)
    );
    for r in &received {
        assert!(r.is_v2());
        assert_eq!(
            r.header("content-type"),
            Some("application/x-protobuf;proto=io.prometheus.write.v2.Request")
        );
        assert_eq!(r.header("x-prometheus-remote-write-version"), Some("2.0.0"));
        assert_eq!(r.header("content-encoding"), Some("snappy"));
        assert!(r.header("user-agent").unwrap().starts_with("sparkprom/"));
        assert_eq!(r.v2.as_ref().unwrap().symbols[0], "");
    }
    // Metadata inline, by family: type and help through the symbols.
    let metadata_of = |name: &str| {
        received.iter().filter(|r| r.accepted()).find_map(|r| {
            let v2 = r.v2.as_ref().unwrap();
            r.request
                .timeseries
                .iter()
                .zip(&v2.timeseries)
                .find(|(t, _)| name_of(t) == name)
                .map(|(_, raw)| {
                    let m = raw.metadata.unwrap();
                    (m.r#type(), v2.symbols[m.help_ref as usize].clone())
                })
        })
    };
    use sparkprom::remote_write::v2_proto::MetricType;
    assert_eq!(
        metadata_of("spark_test_gauge0").map(|m| m.0),
        Some(MetricType::Gauge)
    );
    let (kind, help) = metadata_of("sparkprom_samples_sent_total").unwrap();
    assert_eq!(kind, MetricType::Counter);
    assert!(!help.is_empty());
}

/// fallback_on_415_unsupported_media_type, retry_with_different_version,
/// fallback_header_changes, accept_success_after_fallback, persistent_fallback_choice:
/// Prometheus 3.5 by default answers 415 to 2.0; the same batch goes in 1.0 at once, every later
/// one goes straight in 1.0, and so does the next sink's first on that URL.
#[test]
fn auto_falls_back_on_415_without_losing_the_batch_and_remembers_it_for_the_url() {
    let receiver = FakeReceiver::taking(Takes::V1Answering415, vec![]);
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::Auto)).unwrap();
    run(&sink, 0..1);
    // The first batch, in 2.0 then 1.0, is through before the next is taken: the next batches
    // show what the sink remembered.
    assert!(receiver.wait_for_requests(2, Duration::from_secs(5)));
    run(&sink, 1..3);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    let received = receiver.received();
    assert!(received.len() >= 3, "{} requests", received.len());
    let mut expected = vec![false; received.len()];
    expected[0] = true;
    assert_eq!(versions(&received), expected, "2.0 once, then 1.0");
    assert_eq!(received[0].reply, Reply::Status(415));
    assert_eq!(
        samples_of(&received[0]),
        samples_of(&received[1]),
        "the same batch"
    );
    assert_eq!(
        received[1].header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(
        received[1].header("x-prometheus-remote-write-version"),
        Some("0.1.0")
    );
    assert_complete_and_ordered_as_accepted(&received, 0, 3);
    assert_eq!(stats.samples_rejected.load(Ordering::Relaxed), 0);
    assert_eq!(
        stats.samples_sent.load(Ordering::Relaxed),
        total_accepted_samples(&received)
    );

    // The next sink on this URL in this JVM starts on 1.0.
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::Auto)).unwrap();
    run(&sink, 0..1);
    sink.close(None);
    let later = &receiver.received()[received.len()..];
    assert!(!later.is_empty() && !later.iter().any(Received::is_v2));
}

/// Prometheus 2.42 reads a 2.0 body as an empty 1.0 request and answers 204 without any
/// written header, storing nothing (the spec: treat as 415): the batch goes again in 1.0.
#[test]
fn auto_falls_back_from_prometheus_2_42_which_answers_2_0_with_204_and_stores_nothing() {
    let receiver = FakeReceiver::taking(Takes::V1As242, vec![]);
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::Auto)).unwrap();
    run(&sink, 0..3);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    let received = receiver.received();
    assert!(received[0].is_v2() && received[0].accepted());
    assert!(
        received[0].request.timeseries.is_empty(),
        "2.42 read the 2.0 body as an empty 1.0 request"
    );
    assert!(!received[1..].iter().any(Received::is_v2));
    assert_complete_and_ordered(&received, 0, 3);
    assert_eq!(
        stats.samples_sent.load(Ordering::Relaxed),
        total_accepted_samples(&received)
    );
}

/// The spec's "Senders SHOULD expect 400 ... from 1.x Receivers": a 400 to the first 2.0
/// request, without written headers, is a receiver that cannot decode 2.0.
#[test]
fn auto_falls_back_on_a_400_to_its_first_2_0_request() {
    let receiver = FakeReceiver::taking(Takes::V1Answering400, vec![]);
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::Auto)).unwrap();
    run(&sink, 0..3);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    let received = receiver.received();
    assert_eq!(received[0].reply, Reply::Status(400));
    assert_eq!(
        samples_of(&received[0]),
        samples_of(&received[1]),
        "the same batch"
    );
    assert!(received[0].is_v2() && !received[1..].iter().any(Received::is_v2));
    assert_complete_and_ordered_as_accepted(&received, 0, 3);
    assert_eq!(stats.samples_rejected.load(Ordering::Relaxed), 0);
}

/// TestNoFallbackOn2xx: a receiver that takes 2.0 keeps getting 2.0.
#[test]
fn auto_stays_on_2_0_with_a_receiver_that_takes_it() {
    let receiver = FakeReceiver::start(vec![]);
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::Auto)).unwrap();
    run(&sink, 0..3);
    sink.close(None);
    let received = receiver.received();
    assert!(
        received.iter().all(Received::is_v2),
        "{:?}",
        versions(&received)
    );
    assert_complete_and_ordered(&received, 0, 3);
}

/// protocol=2.0 does not fall back: a 415 is a refusal, counted, and nothing goes in 1.0.
#[test]
fn protocol_2_0_refused_with_415_is_counted_as_rejected_and_never_sent_in_1_0() {
    let receiver = FakeReceiver::taking(Takes::V1Answering415, vec![]);
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::V2)).unwrap();
    run(&sink, 0..2);
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    let received = receiver.received();
    assert!(received.iter().all(Received::is_v2));
    let refused: u64 = received.iter().map(|r| samples_of(r).len() as u64).sum();
    assert!(refused > 0);
    assert_eq!(stats.samples_rejected.load(Ordering::Relaxed), refused);
    assert_eq!(stats.samples_sent.load(Ordering::Relaxed), 0);
}

/// process_written_count_headers, handle_partial_write: a 2.0 receiver that accepts a request
/// but writes fewer samples than it held; the difference is counted, not sent.
/// A receiver that accepts a request but writes only part of it (2.0's written headers, OTLP's
/// partial_success): the rest is counted as not written, what it wrote as sent.
#[test]
fn samples_a_receiver_did_not_write_are_counted_as_not_written() {
    for protocol in [Protocol::V2, Protocol::Otlp] {
        let receiver = FakeReceiver::start(vec![Reply::WriteOnly(1)]);
        let sink = Sink::start(with_protocol(&receiver.url(), protocol)).unwrap();
        run(&sink, 0..2);
        let stats = std::sync::Arc::clone(&sink.stats);
        sink.close(None);
        let received = receiver.received();
        if protocol == Protocol::V2 {
            assert_eq!(received[0].samples_written, Some(1));
        }
        let first = samples_of(&received[0]).len() as u64;
        assert!(first > 1, "{protocol:?}");
        let not_written = stats.samples_not_written.load(Ordering::Relaxed);
        assert_eq!(not_written, first - 1, "{protocol:?}");
        let all: u64 = received.iter().map(|r| samples_of(r).len() as u64).sum();
        let sent = stats.samples_sent.load(Ordering::Relaxed);
        assert_eq!(sent, all - (first - 1), "{protocol:?}");
    }
}

/// `check` sends its probe as a sink with the same properties would: with protocol=auto, 2.0 to a
/// receiver that takes it, else 1.0 after the same fallback; with protocol=2.0 a receiver that
/// takes only 1.0 fails the check, naming what to change.
#[test]
fn check_speaks_the_protocol_a_sink_would() {
    let check = |takes: Takes, protocol: &str| {
        let receiver = FakeReceiver::taking(takes, vec![]);
        let blob = format!("url\0{}\0protocol\0{protocol}\0", receiver.url());
        let verdict = sparkprom::check::run(blob.as_bytes());
        (verdict, versions(&receiver.received()))
    };
    let (verdict, sent) = check(Takes::Both, "auto");
    assert!(verdict.accepted, "{:?}", verdict.lines);
    assert_eq!(sent, [true]);
    assert!(verdict
        .lines
        .last()
        .unwrap()
        .contains("in remote write 2.0"));

    let (verdict, sent) = check(Takes::V1As242, "auto");
    assert!(verdict.accepted, "{:?}", verdict.lines);
    assert_eq!(
        sent,
        [true, false],
        "2.0 first, then the probe again in 1.0"
    );
    assert!(verdict
        .lines
        .last()
        .unwrap()
        .contains("in remote write 1.0"));

    let (verdict, sent) = check(Takes::V1Answering415, "2.0");
    assert!(!verdict.accepted);
    assert_eq!(sent, [true]);
    let fail = verdict.lines.last().unwrap();
    assert!(
        fail.starts_with("FAIL") && fail.contains("set protocol=auto"),
        "{fail}"
    );

    let (verdict, sent) = check(Takes::Both, "1.0");
    assert!(verdict.accepted, "{:?}", verdict.lines);
    assert_eq!(sent, [false]);
}

// OTLP/HTTP (protocol=otlp). The scripted receiver reads it as VictoriaMetrics 1.112 stores it:
// resource and point attributes as labels, the metric's name as `__name__`.

/// The label sets of every series a receiver accepted.
fn label_sets(received: &[Received]) -> std::collections::BTreeSet<String> {
    received
        .iter()
        .filter(|r| r.accepted())
        .flat_map(|r| &r.request.timeseries)
        .map(|t| format!("{:?}", t.labels))
        .collect()
}

#[test]
fn protocol_otlp_arrives_whole_gzipped_with_1_0s_label_sets_after_retries() {
    let receiver = FakeReceiver::start(vec![
        Reply::Status(502),
        Reply::Status(503),
        Reply::Status(504),
        Reply::StatusWithHeader(429, "retry-after", "0"),
    ]);
    let sink = Sink::start(with_protocol(&receiver.url(), Protocol::Otlp)).unwrap();
    let v1_receiver = FakeReceiver::start(vec![]);
    let v1_sink = Sink::start(with_protocol(&v1_receiver.url(), Protocol::V1)).unwrap();
    for n in 0..3 {
        submit_and_wait(&sink, &snapshot(n));
        submit_and_wait(&v1_sink, &snapshot(n));
    }
    let stats = std::sync::Arc::clone(&sink.stats);
    sink.close(None);
    v1_sink.close(None);
    let received = receiver.received();
    assert_complete_and_ordered(&received, 0, 3);
    assert!(stats.retries.load(Ordering::Relaxed) >= 4);
    assert_eq!(
        stats.samples_sent.load(Ordering::Relaxed),
        total_accepted_samples(&received)
    );
    for r in &received {
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("x-prometheus-remote-write-version"), None);
        assert!(r.header("user-agent").unwrap().starts_with("sparkprom/"));
    }
    // The same label sets as 1.0's, of the Spark series and of the sink's own.
    let spark = |sets: std::collections::BTreeSet<String>| -> Vec<String> {
        sets.into_iter()
            .filter(|s| s.contains("spark_test_gauge"))
            .collect()
    };
    let otlp_sets = label_sets(&received);
    let v1_sets = label_sets(&v1_receiver.received());
    assert_eq!(spark(otlp_sets.clone()).len(), GAUGES as usize);
    assert_eq!(spark(otlp_sets.clone()), spark(v1_sets.clone()));
    let differ: Vec<_> = v1_sets.symmetric_difference(&otlp_sets).collect();
    assert!(
        differ.is_empty(),
        "series only one protocol has: {differ:?}"
    );
    // The identity is the resource's; a gauge is a gauge, a counter a cumulative monotonic sum.
    use sparkprom::remote_write::otlp_proto::{metric, AggregationTemporality};
    let first = received.iter().find(|r| r.accepted()).unwrap();
    let otlp = first.otlp.as_ref().unwrap();
    let kind_of = |name: &str| {
        received
            .iter()
            .filter_map(|r| r.otlp.as_ref())
            .find_map(|o| {
                o.resource_metrics
                    .iter()
                    .flat_map(|rm| rm.scope_metrics.iter().flat_map(|s| &s.metrics))
                    .find(|m| m.name == name)
                    .and_then(|m| m.data.clone())
            })
    };
    let resource: Vec<(String, String)> = otlp.resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap().string_value))
        .collect();
    assert!(
        resource.contains(&("app_id".into(), "app-1".into())),
        "{resource:?}"
    );
    assert!(
        resource.contains(&("executor_id".into(), "4".into())),
        "{resource:?}"
    );
    assert!(matches!(
        kind_of("spark_test_gauge0"),
        Some(metric::Data::Gauge(_))
    ));
    let Some(metric::Data::Sum(sent)) = kind_of("sparkprom_samples_sent_total") else {
        panic!("a counter is a sum");
    };
    assert!(sent.is_monotonic);
    assert_eq!(
        sent.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
}

/// `check` of a sink with protocol=otlp sends its probe as OTLP (an OTLP endpoint reads nothing
/// else), and the receiver reads it as the probe.
#[test]
fn check_sends_its_probe_over_otlp_when_the_sink_does() {
    let receiver = FakeReceiver::start(vec![]);
    let blob = format!("url\0{}\0protocol\0otlp\0", receiver.url());
    let verdict = sparkprom::check::run(blob.as_bytes());
    assert!(verdict.accepted, "{:?}", verdict.lines);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("content-encoding"), Some("gzip"));
    assert!(received[0].otlp.is_some());
    let names: Vec<&str> = received[0].request.timeseries.iter().map(name_of).collect();
    assert_eq!(names, vec![sparkprom::check::PROBE_NAME]);
}
