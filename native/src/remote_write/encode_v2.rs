//! Builds the snappy-compressed remote-write 2.0 `Request` body for one batch: a symbols table
//! (every label name and value, help and unit once, "" first), then one `TimeSeries` per series
//! with its labels as references into it, its samples in order and its family's metadata inline
//! (2.0 has no separate metadata list). Counters, histograms and summaries whose start is known
//! carry it as the start timestamp (see v2_proto.rs for the two fields it goes in).
//!
//! The bytes are written by hand, as encode.rs does for 1.0, into buffers kept between
//! requests; v2_proto.rs' messages decode them.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

use super::groups::SeriesGroups;
use super::v2_proto::{self, Metadata, MetricType};
use crate::sample::{Sample, Series};

const REQUEST_SYMBOLS: u32 = 4;
const REQUEST_TIMESERIES: u32 = 5;
const TIMESERIES_LABELS_REFS: u32 = 1;
const TIMESERIES_SAMPLES: u32 = 2;
const TIMESERIES_METADATA: u32 = 5;
const TIMESERIES_CREATED_TIMESTAMP: u32 = 6;

pub struct RequestEncoderV2 {
    groups: SeriesGroups,
    /// The batch's series while their strings are referenced by the symbols table.
    held: Vec<Arc<Series>>,
    /// How many symbols the last request had: the next table starts that large.
    symbols_seen: usize,
    refs: Vec<u32>,
    timeseries: Vec<u8>,
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for RequestEncoderV2 {
    fn default() -> Self {
        RequestEncoderV2 {
            groups: SeriesGroups::default(),
            held: Vec::new(),
            symbols_seen: 0,
            refs: Vec::new(),
            timeseries: Vec::new(),
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }
}

/// Strings by first use; each one's index is its reference.
struct Symbols<'a> {
    index: FxHashMap<&'a str, u32>,
    table: Vec<&'a str>,
}

impl<'a> Symbols<'a> {
    fn with_capacity(n: usize) -> Symbols<'a> {
        let mut symbols = Symbols {
            index: FxHashMap::with_capacity_and_hasher(n, Default::default()),
            table: Vec::with_capacity(n),
        };
        // The spec: the table MUST start with "", the reference of an absent help or unit.
        symbols.intern("");
        symbols
    }

    fn intern(&mut self, s: &'a str) -> u32 {
        let next = self.table.len() as u32;
        *self.index.entry(s).or_insert_with(|| {
            self.table.push(s);
            next
        })
    }
}

impl RequestEncoderV2 {
    /// Encodes `batch` (samples in queue order, so per series in timestamp order) as one
    /// `io.prometheus.write.v2.Request`, then compresses it with snappy's block format. Returns
    /// the body and the uncompressed size.
    pub fn encode(&mut self, batch: &[Sample]) -> Result<(&[u8], usize), snap::Error> {
        let mut held = std::mem::take(&mut self.held);
        let groups = self.groups.group(batch);
        // Taken out of the groups so no series is kept alive past this request.
        held.extend(groups.iter_mut().filter_map(|g| g.series.take()));
        let mut symbols = Symbols::with_capacity(self.symbols_seen);
        self.timeseries.clear();
        for (series, group) in held.iter().zip(groups.iter()) {
            self.refs.clear();
            for label in &series.labels {
                self.refs.push(symbols.intern(&label.name));
                self.refs.push(symbols.intern(&label.value));
            }
            let family = &series.family;
            let metric_type = MetricType::from(family.metric_type);
            let metadata = Metadata {
                r#type: metric_type as i32,
                help_ref: symbols.intern(&family.help),
                unit_ref: symbols.intern(family.unit),
            };
            let start = if counts_from_a_start(metric_type) {
                series.start_ms
            } else {
                0
            };
            let sample = |&(timestamp, value): &(i64, f64)| v2_proto::Sample {
                value,
                timestamp,
                // 0 is "unknown"; a start after the sample would be a wrong one.
                start_timestamp: if start <= timestamp { start } else { 0 },
            };
            let created = group
                .samples
                .first()
                .map_or(0, |first| sample(first).start_timestamp);
            let body_len =
                prost::encoding::uint32::encoded_len_packed(TIMESERIES_LABELS_REFS, &self.refs)
                    + group
                        .samples
                        .iter()
                        .map(|s| {
                            prost::encoding::message::encoded_len(TIMESERIES_SAMPLES, &sample(s))
                        })
                        .sum::<usize>()
                    + prost::encoding::message::encoded_len(TIMESERIES_METADATA, &metadata)
                    + if created != 0 {
                        prost::encoding::int64::encoded_len(TIMESERIES_CREATED_TIMESTAMP, &created)
                    } else {
                        0
                    };
            let out = &mut self.timeseries;
            encode_key(REQUEST_TIMESERIES, WireType::LengthDelimited, out);
            encode_varint(body_len as u64, out);
            prost::encoding::uint32::encode_packed(TIMESERIES_LABELS_REFS, &self.refs, out);
            for s in &group.samples {
                prost::encoding::message::encode(TIMESERIES_SAMPLES, &sample(s), out);
            }
            prost::encoding::message::encode(TIMESERIES_METADATA, &metadata, out);
            if created != 0 {
                prost::encoding::int64::encode(TIMESERIES_CREATED_TIMESTAMP, &created, out);
            }
        }
        self.proto.clear();
        for symbol in &symbols.table {
            encode_key(REQUEST_SYMBOLS, WireType::LengthDelimited, &mut self.proto);
            encode_varint(symbol.len() as u64, &mut self.proto);
            self.proto.extend_from_slice(symbol.as_bytes());
        }
        self.proto.extend_from_slice(&self.timeseries);
        self.symbols_seen = symbols.table.len();
        drop(symbols);
        held.clear();
        self.held = held;
        let max = snap::raw::max_compress_len(self.proto.len());
        self.compressed.resize(max, 0);
        let n = self.snappy.compress(&self.proto, &mut self.compressed)?;
        Ok((&self.compressed[..n], self.proto.len()))
    }
}

/// Types whose samples count from a start: the start timestamp tells a receiver when.
fn counts_from_a_start(metric_type: MetricType) -> bool {
    matches!(
        metric_type,
        MetricType::Counter | MetricType::Histogram | MetricType::Summary
    )
}

/// Decodes a 2.0 body the way a receiver does: snappy block, then `Request`. For tests.
pub fn decode_body(body: &[u8]) -> Result<v2_proto::Request, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    v2_proto::Request::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

/// Mirrors the remote-write 2.0 sender cases of prometheus/compliance (remotewrite/sender/*.go)
/// that concern the message itself, by their names.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Family, STALE_NAN};
    use crate::sample::{Label, MetricType as ModelType};

    fn family(name: &str, metric_type: ModelType, unit: &'static str, help: &str) -> Arc<Family> {
        Arc::new(Family {
            name: name.into(),
            metric_type,
            unit,
            help: help.into(),
        })
    }

    fn series(family: &Arc<Family>, labels: &[(&str, &str)]) -> Arc<Series> {
        let mut all: Vec<Label> = labels
            .iter()
            .map(|(name, value)| Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect();
        all.push(Label {
            name: "__name__".into(),
            value: family.name.clone(),
        });
        Arc::new(Series::new(all, Arc::clone(family)))
    }

    fn sample(series: &Arc<Series>, ts: i64, value: f64) -> Sample {
        Sample {
            series: Arc::clone(series),
            timestamp_ms: ts,
            value,
        }
    }

    fn encode(batch: &[Sample]) -> v2_proto::Request {
        let mut encoder = RequestEncoderV2::default();
        let (body, _) = encoder.encode(batch).unwrap();
        decode_body(body).unwrap()
    }

    /// A series' labels resolved through the symbols table, as a receiver reads them;
    /// labels_refs_valid_indices and labels_refs_even_length: any other refs panic here.
    fn labels_of(request: &v2_proto::Request, ts: &v2_proto::TimeSeries) -> Vec<(String, String)> {
        assert_eq!(ts.labels_refs.len() % 2, 0, "labels_refs_even_length");
        ts.labels_refs
            .chunks(2)
            .map(|pair| {
                let symbol = |r: u32| request.symbols[r as usize].clone();
                (symbol(pair[0]), symbol(pair[1]))
            })
            .collect()
    }

    fn pairs(labels: &[Label]) -> Vec<(String, String)> {
        labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }

    fn v2_sample(timestamp: i64, value: f64, start_timestamp: i64) -> v2_proto::Sample {
        v2_proto::Sample {
            value,
            timestamp,
            start_timestamp,
        }
    }

    /// Every series, label, sample and its metadata back, in order: compliance's
    /// label_lexicographic_ordering, metadata_type_counter, metadata_type_gauge,
    /// metadata_help_text, metadata_unit, metadata_help_refs_valid,
    /// timestamp_ordering_within_series, multiple_metric_types.
    #[test]
    fn decoding_the_body_gives_back_every_series_label_sample_and_its_metadata() {
        let tasks = family("spark_tasks_total", ModelType::Counter, "", "Tasks run.");
        let heap = family("jvm_heap_bytes", ModelType::Gauge, "bytes", "Heap in use.");
        let a = series(&tasks, &[("executor_id", "1"), ("app_id", "app-1")]);
        let b = series(&heap, &[("executor_id", "driver"), ("app_id", "app-1")]);
        let batch = vec![
            sample(&a, 1_000, 1.0),
            sample(&b, 1_000, 5e8),
            sample(&a, 2_000, 3.0),
            sample(&b, 2_000, -7.25),
        ];
        let request = encode(&batch);
        assert_eq!(request.timeseries.len(), 2);
        let (ta, tb) = (&request.timeseries[0], &request.timeseries[1]);
        assert_eq!(labels_of(&request, ta), pairs(&a.labels));
        assert_eq!(labels_of(&request, tb), pairs(&b.labels));
        let names: Vec<String> = labels_of(&request, ta).into_iter().map(|l| l.0).collect();
        assert_eq!(
            names,
            ["__name__", "app_id", "executor_id"],
            "sorted by name"
        );
        assert_eq!(
            ta.samples,
            [v2_sample(1_000, 1.0, 0), v2_sample(2_000, 3.0, 0)]
        );
        assert_eq!(
            tb.samples,
            [v2_sample(1_000, 5e8, 0), v2_sample(2_000, -7.25, 0)]
        );
        let metadata = |ts: &v2_proto::TimeSeries| {
            let m = ts.metadata.unwrap();
            let symbol = |r: u32| request.symbols[r as usize].as_str();
            (m.r#type(), symbol(m.help_ref), symbol(m.unit_ref))
        };
        assert_eq!(metadata(ta), (MetricType::Counter, "Tasks run.", ""));
        assert_eq!(metadata(tb), (MetricType::Gauge, "Heap in use.", "bytes"));
        assert!(ta.histograms.is_empty() && ta.exemplars.is_empty());
    }

    /// Compliance's empty_string_at_index_zero and string_deduplication: "" first, and every
    /// string once, however many series and fields use it (metadata_empty_help_allowed: an
    /// absent help and unit point at "").
    #[test]
    fn symbols_start_with_the_empty_string_and_hold_each_string_once() {
        let gauge = family("spark_gauge", ModelType::Gauge, "", "");
        let series: Vec<Arc<Series>> = (0..3)
            .map(|i| {
                series(
                    &gauge,
                    &[("app_id", "app-1"), ("executor_id", &i.to_string())],
                )
            })
            .collect();
        let batch: Vec<Sample> = series.iter().map(|s| sample(s, 1_000, 1.0)).collect();
        let request = encode(&batch);
        assert_eq!(request.symbols[0], "");
        let mut unique = request.symbols.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), request.symbols.len(), "{:?}", request.symbols);
        // "", __name__, spark_gauge, app_id, app-1, executor_id, 0, 1, 2.
        assert_eq!(request.symbols.len(), 9, "{:?}", request.symbols);
        for ts in &request.timeseries {
            let m = ts.metadata.unwrap();
            assert_eq!((m.help_ref, m.unit_ref), (0, 0));
        }
    }

    /// Compliance's start_timestamp_for_counters, start_timestamp_for_histograms,
    /// start_timestamp_zero_handling and start_timestamp_before_sample_timestamp: a counting
    /// series' known start goes with each sample (and, for Prometheus 3.5, with the series); a
    /// gauge's, an unknown one (0) and one after the sample do not.
    #[test]
    fn counters_histograms_and_summaries_carry_their_start_and_nothing_else_does() {
        let started = |name: &str, t: ModelType, start: i64| {
            let f = family(name, t, "", "");
            let s = series(&f, &[("app_id", "app-1")]);
            Arc::new(Arc::try_unwrap(s).unwrap().starting_at(start))
        };
        let counter = started("c_total", ModelType::Counter, 900);
        let histogram = started("h_bucket", ModelType::Histogram, 800);
        let summary = started("s_count", ModelType::Summary, 700);
        let gauge = started("g", ModelType::Gauge, 600);
        let unknown = started("u_total", ModelType::Counter, 0);
        let late = started("late_total", ModelType::Counter, 1_500);
        let batch: Vec<Sample> = [&counter, &histogram, &summary, &gauge, &unknown, &late]
            .iter()
            .flat_map(|s| [sample(s, 1_000, 1.0), sample(s, 2_000, 2.0)])
            .collect();
        let request = encode(&batch);
        let starts: Vec<(Vec<i64>, i64)> = request
            .timeseries
            .iter()
            .map(|ts| {
                let per_sample = ts.samples.iter().map(|s| s.start_timestamp).collect();
                (per_sample, ts.created_timestamp)
            })
            .collect();
        assert_eq!(
            starts,
            [
                (vec![900, 900], 900),
                (vec![800, 800], 800),
                (vec![700, 700], 700),
                (vec![0, 0], 0),
                (vec![0, 0], 0),
                // After the first sample: not a start of it; the second's is.
                (vec![0, 1_500], 0),
            ]
        );
    }

    /// Compliance's float_value_encoding, zero_value_encoding, negative_value_encoding,
    /// positive_infinity_encoding, negative_infinity_encoding, nan_encoding,
    /// large_float_values, small_float_values, precision_preservation and stale_marker: every
    /// value's bits arrive, the stale marker's NaN among them.
    #[test]
    fn every_value_arrives_bit_for_bit_stale_markers_included() {
        let f = family("v", ModelType::Gauge, "", "");
        let s = series(&f, &[("app_id", "app-1")]);
        let values = [
            1.5,
            0.0,
            -7.25,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.1 + 0.2,
            STALE_NAN,
        ];
        let batch: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, v)| sample(&s, i as i64 + 1, *v))
            .collect();
        let request = encode(&batch);
        let got: Vec<u64> = request.timeseries[0]
            .samples
            .iter()
            .map(|s| s.value.to_bits())
            .collect();
        let sent: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, sent);
    }

    /// Compliance's unicode_in_labels, metadata_help_with_newlines and
    /// metadata_help_with_special_chars: strings arrive unchanged.
    #[test]
    fn unicode_and_newlines_arrive_unchanged() {
        let help = "Bytes read.\nFrom \"HDFS\" \\ S3: 100%";
        let f = family("spark_read_bytes_total", ModelType::Counter, "bytes", help);
        let s = series(&f, &[("app_name", "étl-日本-🚀")]);
        let request = encode(&[sample(&s, 1, 1.0)]);
        let ts = &request.timeseries[0];
        assert_eq!(labels_of(&request, ts), pairs(&s.labels));
        assert_eq!(
            request.symbols[ts.metadata.unwrap().help_ref as usize],
            help
        );
    }

    #[test]
    fn a_reused_encoder_carries_nothing_over_between_requests() {
        let f = family("g", ModelType::Gauge, "", "help a");
        let other = family("h", ModelType::Counter, "seconds", "help b");
        let (a, b) = (series(&f, &[("x", "1")]), series(&other, &[("y", "2")]));
        let mut encoder = RequestEncoderV2::default();
        encoder
            .encode(&[sample(&a, 1, 1.0), sample(&b, 1, 2.0)])
            .unwrap();
        let (body, _) = encoder.encode(&[sample(&b, 2, 3.0)]).unwrap();
        let request = decode_body(body).unwrap();
        assert_eq!(request.timeseries.len(), 1);
        assert_eq!(
            labels_of(&request, &request.timeseries[0]),
            pairs(&b.labels)
        );
        assert_eq!(request.timeseries[0].samples, [v2_sample(2, 3.0, 0)]);
        assert!(!request.symbols.iter().any(|s| s == "help a" || s == "x"));
        assert_eq!(Arc::strong_count(&a), 1, "no series kept past its request");
    }

    /// Every type of the model is its namesake on the wire.
    #[test]
    fn every_model_type_maps_to_the_2_0_type_of_its_name() {
        for (model, wire) in [
            (ModelType::Counter, MetricType::Counter),
            (ModelType::Gauge, MetricType::Gauge),
            (ModelType::Histogram, MetricType::Histogram),
            (ModelType::Summary, MetricType::Summary),
        ] {
            assert_eq!(MetricType::from(model), wire);
        }
    }
}
