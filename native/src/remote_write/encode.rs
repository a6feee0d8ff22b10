//! Builds the snappy-compressed `WriteRequest` body for one batch.
//!
//! Each series' labels are protobuf-encoded once, at the series' first request
//! ([`super::proto::encode_labels`], kept in the series); a request then only copies those bytes and
//! writes the samples, so no label strings are cloned per request. All buffers are kept and reused between requests.
//! The output is a plain `WriteRequest` that prost (and any receiver) decodes.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;

use std::sync::Arc;

use super::groups::SeriesGroups;
use super::proto::encode_labels;
use crate::sample::{Family, Sample};

const WRITE_REQUEST_TIMESERIES: u32 = 1;
const WRITE_REQUEST_METADATA: u32 = 3;
const TIMESERIES_SAMPLES: u32 = 2;

/// The length of one `Sample` message: double field 1 and int64 field 2.
fn sample_len(timestamp_ms: i64) -> usize {
    1 + 8 + 1 + encoded_len_varint(timestamp_ms as u64)
}

pub struct RequestEncoder {
    groups: SeriesGroups,
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        RequestEncoder {
            groups: SeriesGroups::default(),
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }
}

impl RequestEncoder {
    /// Encodes `batch` (samples in queue order, so per series in timestamp order) and the
    /// metadata of `families` as one `WriteRequest`, then compresses it with snappy's block format. Returns the body
    /// and the uncompressed size.
    pub fn encode(
        &mut self,
        batch: &[Sample],
        families: &[Arc<Family>],
    ) -> Result<(&[u8], usize), snap::Error> {
        self.proto.clear();
        for group in self.groups.group(batch) {
            // Taken out so the series is not kept alive past this request.
            let Some(series) = group.series.take() else {
                continue;
            };
            let samples_len: usize = group
                .samples
                .iter()
                .map(|(ts, _)| {
                    let len = sample_len(*ts);
                    1 + encoded_len_varint(len as u64) + len
                })
                .sum();
            let labels = series.encoded.get_or_init(|| encode_labels(&series.labels));
            let body_len = labels.len() + samples_len;
            encode_key(
                WRITE_REQUEST_TIMESERIES,
                WireType::LengthDelimited,
                &mut self.proto,
            );
            encode_varint(body_len as u64, &mut self.proto);
            self.proto.extend_from_slice(labels);
            for &(ts, value) in &group.samples {
                encode_key(
                    TIMESERIES_SAMPLES,
                    WireType::LengthDelimited,
                    &mut self.proto,
                );
                encode_varint(sample_len(ts) as u64, &mut self.proto);
                prost::encoding::double::encode(1, &value, &mut self.proto);
                prost::encoding::int64::encode(2, &ts, &mut self.proto);
            }
        }
        for family in families {
            let m = super::proto::metadata(family);
            prost::encoding::message::encode(WRITE_REQUEST_METADATA, &m, &mut self.proto);
        }
        let max = snap::raw::max_compress_len(self.proto.len());
        self.compressed.resize(max, 0);
        let n = self.snappy.compress(&self.proto, &mut self.compressed)?;
        Ok((&self.compressed[..n], self.proto.len()))
    }
}

/// Decodes a body the way a receiver does: snappy block, then `WriteRequest`. For tests.
pub fn decode_body(body: &[u8]) -> Result<super::proto::WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    super::proto::WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::proto::{self, MetricMetadata, TimeSeries, WriteRequest};
    use crate::sample::{Label, MetricType, Series};

    /// A series' labels as the wire carries them.
    fn wire(labels: &[Label]) -> Vec<proto::Label> {
        labels
            .iter()
            .map(|l| proto::Label {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect()
    }

    fn series(name: &str, executor: &str) -> Arc<Series> {
        let family = Arc::new(Family {
            name: name.into(),
            metric_type: MetricType::Gauge,
            unit: "",
            help: String::new(),
        });
        let labels = vec![
            Label {
                name: "executor_id".into(),
                value: executor.into(),
            },
            Label {
                name: "__name__".into(),
                value: name.into(),
            },
            Label {
                name: "app_id".into(),
                value: "app-1".into(),
            },
        ];
        Arc::new(Series::new(labels, family))
    }

    fn sample(series: &Arc<Series>, ts: i64, value: f64) -> Sample {
        Sample {
            series: Arc::clone(series),
            timestamp_ms: ts,
            value,
        }
    }

    #[test]
    fn decoding_the_body_gives_back_every_series_and_sample_in_order() {
        let a = series("spark_a", "1");
        let b = series("spark_b", "driver");
        let batch = vec![
            sample(&a, 1_000, 1.5),
            sample(&b, 1_000, 0.0),
            sample(&a, 2_000, -7.25),
            sample(&b, 2_000, f64::MAX),
            sample(&a, 3_000, 1e-300),
        ];
        let mut encoder = RequestEncoder::default();
        let (body, raw_len) = encoder.encode(&batch, &[]).unwrap();
        assert!(raw_len > body.len() / 2);
        let decoded = decode_body(body).unwrap();
        let expected = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: wire(&a.labels),
                    samples: vec![
                        proto::Sample {
                            value: 1.5,
                            timestamp: 1_000,
                        },
                        proto::Sample {
                            value: -7.25,
                            timestamp: 2_000,
                        },
                        proto::Sample {
                            value: 1e-300,
                            timestamp: 3_000,
                        },
                    ],
                },
                TimeSeries {
                    labels: wire(&b.labels),
                    samples: vec![
                        proto::Sample {
                            value: 0.0,
                            timestamp: 1_000,
                        },
                        proto::Sample {
                            value: f64::MAX,
                            timestamp: 2_000,
                        },
                    ],
                },
            ],
            metadata: vec![],
        };
        assert_eq!(decoded, expected);
        let names: Vec<&str> = decoded.timeseries[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(
            names,
            vec!["__name__", "app_id", "executor_id"],
            "sorted by name"
        );
    }

    #[test]
    fn reused_encoder_does_not_leak_samples_between_requests() {
        let a = series("spark_a", "1");
        let b = series("spark_b", "2");
        let mut encoder = RequestEncoder::default();
        encoder
            .encode(&[sample(&a, 1, 1.0), sample(&b, 1, 2.0)], &[])
            .unwrap();
        let (body, _) = encoder.encode(&[sample(&b, 2, 3.0)], &[]).unwrap();
        let decoded = decode_body(body).unwrap();
        assert_eq!(decoded.timeseries.len(), 1);
        assert_eq!(decoded.timeseries[0].labels, wire(&b.labels));
        assert_eq!(
            decoded.timeseries[0].samples,
            vec![proto::Sample {
                value: 3.0,
                timestamp: 2
            }]
        );
    }

    #[test]
    fn metadata_travels_with_the_samples() {
        let a = series("spark_a", "1");
        let family = Arc::new(Family {
            name: "spark_a".into(),
            metric_type: MetricType::Counter,
            unit: "seconds",
            help: "help".into(),
        });
        let mut encoder = RequestEncoder::default();
        let (body, _) = encoder
            .encode(&[sample(&a, 1, 1.0)], std::slice::from_ref(&family))
            .unwrap();
        let metadata = MetricMetadata {
            r#type: proto::MetricType::Counter as i32,
            metric_family_name: "spark_a".into(),
            help: "help".into(),
            unit: "seconds".into(),
        };
        assert_eq!(decode_body(body).unwrap().metadata, vec![metadata]);
    }

    #[test]
    fn stale_marker_nan_bits_survive_encoding() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let a = series("spark_a", "1");
        let mut encoder = RequestEncoder::default();
        let (body, _) = encoder.encode(&[sample(&a, 1, stale)], &[]).unwrap();
        let value = decode_body(body).unwrap().timeseries[0].samples[0].value;
        assert_eq!(value.to_bits(), 0x7ff0_0000_0000_0002);
    }
}
