//! The data every stage hands on: a metric family, a series of it (its sorted label set) and one
//! sample of a series. Which labels a series has is decided by [`crate::labels`], which owns
//! label assembly. Nothing here knows a wire format: each encoder at the edge
//! ([`crate::remote_write`]) writes this model as its protocol says.

use std::sync::Arc;

/// Prometheus' staleness marker: a NaN with this exact bit pattern tells the receiver the series
/// ended, so graphs stop at once instead of repeating the last value for five minutes.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

pub fn is_stale(value: f64) -> bool {
    value.to_bits() == STALE_NAN.to_bits()
}

/// What a family's values mean, as Prometheus' metadata says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

/// One label of a series.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A metric family as Prometheus' metadata describes it.
#[derive(Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub metric_type: MetricType,
    pub unit: &'static str,
    pub help: String,
}

/// One series: its sorted label set (with `__name__`) and the family it belongs to.
#[derive(Debug)]
pub struct Series {
    pub labels: Vec<Label>,
    /// The label set as one byte string, made once: what tells two series apart (claims, the
    /// textfile's grouping) without comparing label by label. Not a wire format.
    pub key: Vec<u8>,
    pub family: Arc<Family>,
    /// The label set as the sink's encoder writes it, made by that encoder at the series' first
    /// request and reused by every later one (1.0's; 2.0 refers to a request's own symbols).
    pub encoded: std::sync::OnceLock<Vec<u8>>,
    /// When the series' count started, in ms since the Unix epoch (0: unknown): remote write
    /// 2.0 sends it with counters, histograms and summaries.
    pub start_ms: i64,
    /// Those of `labels` that every series of its sink carries alike (the user's, the
    /// platform's, the identity's: labels.rs' common labels), shared by the series made
    /// together; empty when not known. An encoder that sends them once for many series (OTLP's
    /// resource) sends these apart and the rest with each series.
    pub common: Arc<[Label]>,
}

impl PartialEq for Series {
    fn eq(&self, other: &Series) -> bool {
        self.key == other.key
            && self.family == other.family
            && self.start_ms == other.start_ms
            && self.common == other.common
    }
}

impl Series {
    /// A series of `family` with these labels, sorted (remote write requires it).
    pub fn new(mut labels: Vec<Label>, family: Arc<Family>) -> Series {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let key = key_of(&labels);
        Series {
            labels,
            key,
            family,
            encoded: std::sync::OnceLock::new(),
            start_ms: 0,
            common: Arc::new([]),
        }
    }

    /// This series, knowing which of its labels are its sink's common ones (a subset of its
    /// labels, sorted by name).
    pub fn sharing(self, common: Arc<[Label]>) -> Series {
        Series { common, ..self }
    }

    /// This series, known to have started counting at `ms` (ms since the Unix epoch).
    pub fn starting_at(self, ms: i64) -> Series {
        Series {
            start_ms: ms,
            ..self
        }
    }
}

/// A label set as one byte string: each name and value followed by 0xff, a byte UTF-8 never
/// holds, so no two label sets give the same string.
fn key_of(labels: &[Label]) -> Vec<u8> {
    let mut key = Vec::with_capacity(
        labels
            .iter()
            .map(|l| l.name.len() + l.value.len() + 2)
            .sum(),
    );
    for label in labels {
        for part in [&label.name, &label.value] {
            key.extend_from_slice(part.as_bytes());
            key.push(0xff);
        }
    }
    key
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
