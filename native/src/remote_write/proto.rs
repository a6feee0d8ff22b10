//! The remote_write 1.0 protobuf messages (prometheus/prompb `remote.proto` and `types.proto`),
//! declared with prost's derive so no `protoc` is needed at build time. Field numbers are the
//! spec's; only the fields a sender fills are declared.

/// The body of one remote-write request, before snappy.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series: its full, sorted label set and its samples in timestamp order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Type, help and unit of one metric family, so receivers know what they store.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

/// The wire's type of a family of the core's model.
impl From<crate::sample::MetricType> for MetricType {
    fn from(t: crate::sample::MetricType) -> MetricType {
        use crate::sample::MetricType as Model;
        match t {
            Model::Counter => MetricType::Counter,
            Model::Gauge => MetricType::Gauge,
            Model::Histogram => MetricType::Histogram,
            Model::Summary => MetricType::Summary,
        }
    }
}

/// A family's metadata as remote write 1.0 carries it.
pub fn metadata(family: &crate::sample::Family) -> MetricMetadata {
    MetricMetadata {
        r#type: MetricType::from(family.metric_type) as i32,
        metric_family_name: family.name.clone(),
        help: family.help.clone(),
        unit: family.unit.to_string(),
    }
}

/// The bytes of `labels` as the repeated `labels` field (1) of a `TimeSeries`: each series'
/// labels are encoded once, at its first request, and copied into every later one.
pub fn encode_labels(labels: &[crate::sample::Label]) -> Vec<u8> {
    let mut buf = Vec::new();
    for label in labels {
        let wire = Label {
            name: label.name.clone(),
            value: label.value.clone(),
        };
        prost::encoding::message::encode(1, &wire, &mut buf);
    }
    buf
}
