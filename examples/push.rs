//! One simulated JVM: starts the core with sink properties given as `key=value` arguments,
//! hands it `--reports N` snapshots of `--metrics M` gauges every `--period-ms P`, closes it
//! (final flush) and prints what happened as one JSON line on stdout. The auth tests use it to
//! push through each credential source; the core logs to stderr exactly as inside Spark.
//!
//! `cargo run --release --example push -- --reports 5 url=http://127.0.0.1:9090/api/v1/write`

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sparkprom::config::Config;
use sparkprom::sink::Sink;
use sparkprom::snapshot::{Encoder, Value};
use sparkprom::stats::{now_ms, Stats};

struct Options {
    reports: u32,
    metrics: u32,
    period: Duration,
    executor_id: String,
    properties: BTreeMap<String, String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        reports: 3,
        metrics: 10,
        period: Duration::from_millis(200),
        executor_id: "1".to_string(),
        properties: BTreeMap::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--reports" => options.reports = number(&value("--reports")?)?,
            "--metrics" => options.metrics = number(&value("--metrics")?)?,
            "--period-ms" => {
                options.period = Duration::from_millis(number(&value("--period-ms")?)? as u64)
            }
            "--executor-id" => options.executor_id = value("--executor-id")?,
            property => {
                let (key, v) = property
                    .split_once('=')
                    .ok_or(format!("'{property}' is neither an option nor key=value"))?;
                options.properties.insert(key.to_string(), v.to_string());
            }
        }
    }
    Ok(options)
}

fn number(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not a number"))
}

/// Report `n` of executor `executor_id` of app-push: `metrics` gauges whose value is `n`.
fn snapshot(options: &Options, n: u32) -> Vec<u8> {
    let mut e = Encoder::default();
    e.begin(now_ms() as i64, n == 0);
    if n == 0 {
        e.identity(&[
            ("app_id", "app-push"),
            ("executor_id", &options.executor_id),
            ("namespace", "app-push"),
        ]);
    }
    for id in 0..options.metrics {
        if n == 0 {
            e.define(
                id,
                &format!("app-push.{}.push.gauge{id}", options.executor_id),
            );
        }
        e.reading(id, Value::Gauge(n as f64));
    }
    e.buf
}

/// This process' CPU time (user + system, all threads) and peak resident memory, for the
/// scale and memory benchmarks.
fn own_usage() -> (f64, i64) {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        seconds(usage.ru_utime) + seconds(usage.ru_stime),
        usage.ru_maxrss,
    )
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("push: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_properties(&options.properties) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    sparkprom::logging::init(&config.log_level);
    let sink = match Sink::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    for n in 0..options.reports {
        let _ = sink.submit(&snapshot(&options, n));
        std::thread::sleep(options.period);
    }
    let stats = sink.stats.clone();
    sink.close(None);
    let get = |c: &std::sync::atomic::AtomicU64| Stats::get(c);
    let (cpu_seconds, max_rss_kib) = own_usage();
    println!(
        "{{\"sent\": {}, \"rejected\": {}, \"failed\": {}, \"dropped\": {}, \"requests\": {}, \"retries\": {}, \"seconds\": {:.3}, \"cpu_seconds\": {cpu_seconds:.4}, \"max_rss_kib\": {max_rss_kib}}}",
        get(&stats.samples_sent),
        get(&stats.samples_rejected),
        get(&stats.samples_failed),
        get(&stats.samples_dropped_capacity),
        get(&stats.requests),
        get(&stats.retries),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
