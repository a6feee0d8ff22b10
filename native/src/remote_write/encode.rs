//! Builds the snappy-compressed `WriteRequest` body for one batch.
//!
//! Each series' labels are protobuf-encoded once, when the series is created
//! ([`encode_labels`]); a request then only copies those bytes and writes the samples, so no
//! label strings are cloned per request. All buffers are kept and reused between requests.
//! The output is a plain `WriteRequest` that prost (and any receiver) decodes.

use std::collections::HashMap;
use std::sync::Arc;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;

use super::proto::{Label, MetricMetadata};
use crate::series::{QueuedSample, Series};

const WRITE_REQUEST_TIMESERIES: u32 = 1;
const WRITE_REQUEST_METADATA: u32 = 3;
const TIMESERIES_LABELS: u32 = 1;
const TIMESERIES_SAMPLES: u32 = 2;

/// The bytes of `labels` as the repeated `labels` field of a `TimeSeries`.
pub fn encode_labels(labels: &[Label]) -> Vec<u8> {
    let mut buf = Vec::new();
    for label in labels {
        prost::encoding::message::encode(TIMESERIES_LABELS, label, &mut buf);
    }
    buf
}

/// The length of one `Sample` message: double field 1 and int64 field 2.
fn sample_len(timestamp_ms: i64) -> usize {
    1 + 8 + 1 + encoded_len_varint(timestamp_ms as u64)
}

pub struct RequestEncoder {
    /// Samples of the batch grouped by series, in order of each series' first sample. Only the
    /// first `used` entries belong to the current batch; the rest keep their memory for later.
    groups: Vec<Group>,
    /// Series address -> index in `groups`.
    group_of: HashMap<usize, usize>,
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        RequestEncoder {
            groups: Vec::new(),
            group_of: HashMap::new(),
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }
}

#[derive(Default)]
struct Group {
    series: Option<Arc<Series>>,
    samples: Vec<(i64, f64)>,
}

impl RequestEncoder {
    /// Encodes `batch` (samples in queue order, so per series in timestamp order) and `metadata`
    /// as one `WriteRequest`, then compresses it with snappy's block format. Returns the body
    /// and the uncompressed size.
    pub fn encode(
        &mut self,
        batch: &[QueuedSample],
        metadata: &[MetricMetadata],
    ) -> Result<(&[u8], usize), snap::Error> {
        let used = self.group(batch);
        self.proto.clear();
        for group in &mut self.groups[..used] {
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
            let body_len = series.encoded_labels.len() + samples_len;
            encode_key(
                WRITE_REQUEST_TIMESERIES,
                WireType::LengthDelimited,
                &mut self.proto,
            );
            encode_varint(body_len as u64, &mut self.proto);
            self.proto.extend_from_slice(&series.encoded_labels);
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
        for m in metadata {
            prost::encoding::message::encode(WRITE_REQUEST_METADATA, m, &mut self.proto);
        }
        let max = snap::raw::max_compress_len(self.proto.len());
        self.compressed.resize(max, 0);
        let n = self.snappy.compress(&self.proto, &mut self.compressed)?;
        Ok((&self.compressed[..n], self.proto.len()))
    }

    /// Fills the first groups with the batch's samples; returns how many groups it used.
    fn group(&mut self, batch: &[QueuedSample]) -> usize {
        self.group_of.clear();
        let mut used = 0;
        for sample in batch {
            let key = Arc::as_ptr(&sample.series) as usize;
            let index = *self.group_of.entry(key).or_insert_with(|| {
                used += 1;
                used - 1
            });
            if index == self.groups.len() {
                self.groups.push(Group::default());
            }
            let group = &mut self.groups[index];
            if group.series.is_none() {
                group.series = Some(Arc::clone(&sample.series));
                group.samples.clear();
            }
            group.samples.push((sample.timestamp_ms, sample.value));
        }
        used
    }
}

/// Decodes a body the way a receiver does: snappy block, then `WriteRequest`. For tests.
pub fn decode_body(body: &[u8]) -> Result<super::proto::WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    super::proto::WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}
