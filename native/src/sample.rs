//! The data every stage hands on: a metric family, a series of it (its label set, sorted and
//! encoded once) and one sample of a series. Which labels a series has is decided by
//! [`crate::labels`], which owns label assembly.

use std::sync::Arc;

use crate::proto::{Label, MetricMetadata, MetricType};

/// Prometheus' staleness marker: a NaN with this exact bit pattern tells the receiver the series
/// ended, so graphs stop at once instead of repeating the last value for five minutes.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

pub fn is_stale(value: f64) -> bool {
    value.to_bits() == STALE_NAN.to_bits()
}

/// A metric family as Prometheus' metadata describes it.
#[derive(Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub metric_type: MetricType,
    pub unit: &'static str,
    pub help: String,
}

impl Family {
    pub fn metadata(&self) -> MetricMetadata {
        MetricMetadata {
            r#type: self.metric_type as i32,
            metric_family_name: self.name.clone(),
            help: self.help.clone(),
            unit: self.unit.to_string(),
        }
    }
}

/// One series: its sorted label set (with `__name__`) and the family it belongs to.
#[derive(Debug, PartialEq)]
pub struct Series {
    pub labels: Vec<Label>,
    /// `labels` as protobuf bytes, encoded once instead of in every request.
    pub encoded_labels: Vec<u8>,
    pub family: Arc<Family>,
    /// When the series' count started, in ms since the Unix epoch (0: unknown): remote write
    /// 2.0 sends it with counters, histograms and summaries.
    pub start_ms: i64,
}

impl Series {
    /// A series of `family` with these labels, sorted (remote write requires it) and encoded.
    pub fn new(mut labels: Vec<Label>, family: Arc<Family>) -> Series {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let encoded_labels = crate::proto::encode_labels(&labels);
        Series {
            labels,
            encoded_labels,
            family,
            start_ms: 0,
        }
    }

    /// This series, known to have started counting at `ms` (ms since the Unix epoch).
    pub fn starting_at(self, ms: i64) -> Series {
        Series {
            start_ms: ms,
            ..self
        }
    }
}

/// One value of one series at one time, on its way from a report to the receiver.
#[derive(Debug, Clone)]
pub struct Sample {
    pub series: Arc<Series>,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// Appends a stale marker stamped `ts` for each series: how a sink says they ended.
pub fn push_stale_markers<'a>(
    series: impl IntoIterator<Item = &'a Arc<Series>>,
    ts: i64,
    out: &mut Vec<Sample>,
) {
    out.extend(series.into_iter().map(|s| Sample {
        series: Arc::clone(s),
        timestamp_ms: ts,
        value: STALE_NAN,
    }));
}
