//! The native core's hot path, stage by stage, on an executor-shaped snapshot: decoding the
//! JVM's buffer, turning readings into samples (series lookup), and encoding + snappy in remote
//! write 1.0 and 2.0, side by side on one batch. Criterion prints samples per second (as
//! "elements"); the wire size per sample of each protocol is printed once.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sparkprom::identity::Identity;
use sparkprom::labels::SinkLabels;
use sparkprom::remote_write::encode::RequestEncoder;
use sparkprom::remote_write::encode_v2::RequestEncoderV2;
use sparkprom::sample::Sample;
use sparkprom::snapshot::{decode_into, Encoder, Snapshot, Value};
use sparkprom::spark_series::SparkSeries;

/// Like a Spark executor's registry, `metrics` names: gauges, counters, and every tenth a timer.
fn snapshot_bytes(metrics: u32, first: bool, t: i64) -> Vec<u8> {
    let mut e = Encoder::default();
    e.begin(1_700_000_000_000 + t * 10_000, first);
    if first {
        e.identity(&[
            ("app_id", "app-1"),
            ("app_name", "bench"),
            ("executor_id", "7"),
            ("namespace", "app-1"),
        ]);
    }
    for id in 0..metrics {
        if first {
            e.define(id, &format!("app-1.7.source{}.metricNumber{id}", id % 13));
        }
        let value = match id % 10 {
            0 => Value::Timer {
                count: 1000 + t,
                quantiles: [1e6, 2e6, 3e6, 4e6, 5e6, 6e6],
            },
            1..=5 => Value::Gauge((id as i64 * 31 + t) as f64),
            _ => Value::Counter(id as i64 * 1000 + t),
        };
        e.reading(id, value);
    }
    e.buf
}

fn stages(c: &mut Criterion) {
    let metrics = 1_000;
    let mut labels = SinkLabels::new("bench", vec![], Default::default());
    let mut table = SparkSeries::new();
    let mut snapshot = Snapshot::default();
    let mut samples: Vec<Sample> = Vec::new();
    decode_into(&snapshot_bytes(metrics, true, 0), &mut snapshot)
        .expect("the bench encodes valid snapshots");
    if let Some(pairs) = &snapshot.identity {
        labels.set_identity(Identity::from_pairs(pairs));
    }
    table.ingest(&snapshot, &mut labels, &mut samples);
    let steady = snapshot_bytes(metrics, false, 1);
    decode_into(&steady, &mut snapshot).expect("the bench encodes valid snapshots");
    samples.clear();
    table.ingest(&snapshot, &mut labels, &mut samples);
    let per_snapshot = samples.len() as u64;

    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(metrics as u64));
    group.bench_function("decode snapshot (per metric)", |b| {
        b.iter(|| {
            decode_into(black_box(&steady), &mut snapshot)
                .expect("the bench encodes valid snapshots")
        })
    });
    group.throughput(Throughput::Elements(per_snapshot));
    group.bench_function("series lookup (per sample)", |b| {
        b.iter(|| {
            samples.clear();
            table.ingest(black_box(&snapshot), &mut labels, &mut samples);
        })
    });
    // A full request's worth: several reports of the same series, as the sender batches them.
    let mut batch = Vec::new();
    for t in 0..(2_000 / per_snapshot.max(1) + 1) {
        decode_into(&snapshot_bytes(metrics, false, t as i64 + 2), &mut snapshot)
            .expect("the bench encodes valid snapshots");
        table.ingest(&snapshot, &mut labels, &mut batch);
    }
    batch.truncate(2_000);
    let mut encoder = RequestEncoder::default();
    let mut encoder_v2 = RequestEncoderV2::default();
    let v1 = encoder
        .encode(&batch, &[])
        .map(|(b, raw)| (b.len(), raw))
        .expect("snappy takes any batch");
    let v2 = encoder_v2
        .encode(&batch)
        .map(|(b, raw)| (b.len(), raw))
        .expect("snappy takes any batch");
    for (protocol, (body, raw)) in [("1.0", v1), ("2.0", v2)] {
        println!(
            "wire, remote write {protocol}: {} samples -> {raw} bytes protobuf, {body} bytes snappy \
             ({:.1} bytes/sample on the wire)",
            batch.len(),
            body as f64 / batch.len() as f64
        );
    }
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("encode + snappy (per sample)", |b| {
        b.iter(|| {
            let (body, _) = encoder
                .encode(black_box(&batch), &[])
                .expect("snappy takes any batch");
            black_box(body.len());
        })
    });
    group.bench_function("encode 2.0 + snappy (per sample)", |b| {
        b.iter(|| {
            let (body, _) = encoder_v2
                .encode(black_box(&batch))
                .expect("snappy takes any batch");
            black_box(body.len());
        })
    });
    // Compression apart: snappy alone on each protocol's protobuf of the same batch.
    let raw = |body: &[u8]| {
        snap::raw::Decoder::new()
            .decompress_vec(body)
            .expect("the encoders write snappy blocks")
    };
    let raw_v1 = raw(encoder.encode(&batch, &[]).expect("encodes").0);
    let raw_v2 = raw(encoder_v2.encode(&batch).expect("encodes").0);
    let mut compressed = vec![0; snap::raw::max_compress_len(raw_v1.len().max(raw_v2.len()))];
    let mut snappy = snap::raw::Encoder::new();
    for (name, raw) in [
        ("snappy alone, 1.0 (per sample)", &raw_v1),
        ("snappy alone, 2.0 (per sample)", &raw_v2),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    snappy
                        .compress(black_box(raw), &mut compressed)
                        .expect("fits"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
