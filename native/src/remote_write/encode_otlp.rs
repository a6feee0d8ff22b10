//! Builds the gzip-compressed OTLP `ExportMetricsServiceRequest` body for one batch. Series
//! that share their sink's common labels (`Series::common`) share a resource, whose attributes
//! are those labels under our own names; each series is a data point of the metric of its
//! `__name__` with the rest of its labels as attributes. A receiver that turns resource
//! attributes into labels (VictoriaMetrics does, each under its own name) so stores the label
//! set remote write 1.0 sends, and the same PromQL answers the same.
//!
//! Every series goes as the Prometheus series it is, under its full name (suffixes included:
//! VictoriaMetrics keeps a gauge's or sum's name as sent): counters and the counts, sums and
//! buckets of histograms and summaries as cumulative sums with the series' start, the rest as
//! gauges. A classic histogram is not regrouped into OTLP's histogram (a receiver would then
//! make its own `_bucket` series, which need not be ours). A stale marker is a data point
//! flagged as having no recorded value.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use super::groups::SeriesGroups;
use super::otlp_proto::{
    metric, number_data_point, AggregationTemporality, AnyValue, ExportMetricsServiceRequest,
    Gauge, InstrumentationScope, KeyValue, Metric, NumberDataPoint, Resource, ResourceMetrics,
    ScopeMetrics, Sum, FLAG_NO_RECORDED_VALUE,
};
use crate::sample::{is_stale, Label, MetricType, Sample, Series};

const NANOS_PER_MS: u64 = 1_000_000;

#[derive(Default)]
pub struct RequestEncoderOtlp {
    groups: SeriesGroups,
    /// The batch's series while the request refers to their labels.
    held: Vec<Arc<Series>>,
    proto: Vec<u8>,
    compressed: Vec<u8>,
}

impl RequestEncoderOtlp {
    /// Encodes `batch` (samples in queue order, so per series in timestamp order) as one
    /// `ExportMetricsServiceRequest`, then gzips it. Returns the body and the uncompressed size.
    pub fn encode(&mut self, batch: &[Sample]) -> std::io::Result<(&[u8], usize)> {
        let mut held = std::mem::take(&mut self.held);
        let groups = self.groups.group(batch);
        // Taken out of the groups so no series is kept alive past this request.
        held.extend(groups.iter_mut().filter_map(|g| g.series.take()));
        let mut request = ExportMetricsServiceRequest::default();
        let mut placement = Placement::default();
        for (series, group) in held.iter().zip(groups.iter()) {
            let metric = placement.metric(&mut request, series);
            let attributes = point_attributes(series);
            let sum = matches!(metric.data, Some(metric::Data::Sum(_)));
            let points = group.samples.iter().map(|&(timestamp, value)| {
                data_point(series, sum, attributes.clone(), timestamp, value)
            });
            match &mut metric.data {
                Some(metric::Data::Sum(s)) => s.data_points.extend(points),
                Some(metric::Data::Gauge(g)) => g.data_points.extend(points),
                None => {}
            }
        }
        drop(placement);
        held.clear();
        self.held = held;
        self.proto.clear();
        request
            .encode(&mut self.proto)
            .map_err(std::io::Error::other)?;
        self.compressed.clear();
        let mut gzip = GzEncoder::new(std::mem::take(&mut self.compressed), Compression::default());
        gzip.write_all(&self.proto)?;
        self.compressed = gzip.finish()?;
        Ok((&self.compressed, self.proto.len()))
    }
}

/// Where each series' points go in the request being built: its resource, then its metric.
#[derive(Default)]
struct Placement<'a> {
    /// The address of a series' common labels -> its resource. Each claim shares its own copy,
    /// so many addresses hold the same labels: a new address is compared with `resources`.
    by_address: HashMap<usize, usize>,
    /// Each resource's common labels (a sink has a few sets: with `role`, without, the node's).
    resources: Vec<&'a [Label]>,
    /// (resource, metric name) -> the metric's place in that resource.
    metrics: HashMap<(usize, &'a str), usize>,
}

impl<'a> Placement<'a> {
    /// The metric the series' points go in, made (and its resource) when the request has none.
    fn metric<'r>(
        &mut self,
        request: &'r mut ExportMetricsServiceRequest,
        series: &'a Series,
    ) -> &'r mut Metric {
        let resource = self.resource(request, &series.common);
        let metrics = &mut request.resource_metrics[resource].scope_metrics[0].metrics;
        let name = series
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .map_or("", |l| l.value.as_str());
        let at = *self.metrics.entry((resource, name)).or_insert_with(|| {
            metrics.push(new_metric(series, name));
            metrics.len() - 1
        });
        &mut metrics[at]
    }

    fn resource(
        &mut self,
        request: &mut ExportMetricsServiceRequest,
        common: &'a Arc<[Label]>,
    ) -> usize {
        let address = Arc::as_ptr(common) as *const Label as usize;
        if let Some(&at) = self.by_address.get(&address) {
            return at;
        }
        let at = match self.resources.iter().position(|r| **r == **common) {
            Some(at) => at,
            None => {
                self.resources.push(common);
                request.resource_metrics.push(ResourceMetrics {
                    resource: Some(Resource {
                        attributes: common.iter().map(key_value).collect(),
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: "sparkprom".to_string(),
                            version: crate::VERSION.to_string(),
                        }),
                        metrics: Vec::new(),
                    }],
                });
                request.resource_metrics.len() - 1
            }
        };
        self.by_address.insert(address, at);
        at
    }
}

/// The metric of a series named `name`, of the kind its family's type and suffix make it.
fn new_metric(series: &Series, name: &str) -> Metric {
    let family = &series.family;
    let suffix = name.strip_prefix(family.name.as_str()).unwrap_or("");
    let data = match cumulative(family.metric_type, suffix) {
        Some(is_monotonic) => metric::Data::Sum(Sum {
            data_points: Vec::new(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic,
        }),
        None => metric::Data::Gauge(Gauge::default()),
    };
    Metric {
        name: name.to_string(),
        description: family.help.clone(),
        unit: family.unit.to_string(),
        data: Some(data),
    }
}

/// Whether a series of this type with this suffix after its family's name counts from a start
/// (`Some(monotonic)`): a counter; a histogram's buckets and count and a summary's count (never
/// down); their `_sum`, which a negative observation lowers. Quantiles are gauges.
fn cumulative(metric_type: MetricType, suffix: &str) -> Option<bool> {
    match (metric_type, suffix) {
        (MetricType::Counter, _) => Some(true),
        (MetricType::Histogram, "_bucket" | "_count") | (MetricType::Summary, "_count") => {
            Some(true)
        }
        (MetricType::Histogram | MetricType::Summary, "_sum") => Some(false),
        _ => None,
    }
}

/// The series' labels that are not its resource's, nor its name.
fn point_attributes(series: &Series) -> Vec<KeyValue> {
    series
        .labels
        .iter()
        .filter(|l| l.name != "__name__" && !series.common.iter().any(|c| c.name == l.name))
        .map(key_value)
        .collect()
}

fn data_point(
    series: &Series,
    sum: bool,
    attributes: Vec<KeyValue>,
    timestamp_ms: i64,
    value: f64,
) -> NumberDataPoint {
    let start = series.start_ms;
    // 0 is "unknown"; a start after the sample would be a wrong one.
    let start_ms = if sum && start > 0 && start <= timestamp_ms {
        start
    } else {
        0
    };
    let (value, flags) = if is_stale(value) {
        (None, FLAG_NO_RECORDED_VALUE)
    } else {
        (Some(number_data_point::Value::AsDouble(value)), 0)
    };
    NumberDataPoint {
        attributes,
        start_time_unix_nano: nanos(start_ms),
        time_unix_nano: nanos(timestamp_ms),
        value,
        flags,
    }
}

fn nanos(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(NANOS_PER_MS)
}

fn key_value(label: &Label) -> KeyValue {
    KeyValue {
        key: label.name.clone(),
        value: Some(AnyValue {
            string_value: label.value.clone(),
        }),
    }
}

#[cfg(test)]
pub mod tests {
    use std::io::Read;

    use super::*;
    use crate::remote_write::otlp_proto::ExportMetricsServiceRequest;
    use crate::sample::{Family, STALE_NAN};

    /// A body as an OTLP receiver reads it: gunzip, then the request.
    pub fn decode_body(body: &[u8]) -> ExportMetricsServiceRequest {
        let mut proto = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut proto)
            .unwrap();
        ExportMetricsServiceRequest::decode(proto.as_slice()).unwrap()
    }

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn family(name: &str, metric_type: MetricType) -> Arc<Family> {
        Arc::new(Family {
            name: name.into(),
            metric_type,
            unit: "seconds",
            help: format!("help of {name}"),
        })
    }

    /// A series of `family` named `name`, with the common labels and its own.
    fn series(
        family: &Arc<Family>,
        name: &str,
        common: &Arc<[Label]>,
        own: &[(&str, &str)],
    ) -> Arc<Series> {
        let mut labels: Vec<Label> = common.to_vec();
        labels.extend(own.iter().map(|(n, v)| label(n, v)));
        labels.push(label("__name__", name));
        Arc::new(Series::new(labels, Arc::clone(family)).sharing(Arc::clone(common)))
    }

    fn sample(series: &Arc<Series>, timestamp_ms: i64, value: f64) -> Sample {
        Sample {
            series: Arc::clone(series),
            timestamp_ms,
            value,
        }
    }

    fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
        attributes
            .iter()
            .map(|kv| {
                let value = kv.value.as_ref().map_or("", |v| v.string_value.as_str());
                (kv.key.clone(), value.to_string())
            })
            .collect()
    }

    fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn common_labels_are_the_resource_and_each_series_a_point_of_its_named_metric() {
        let driver: Arc<[Label]> =
            vec![label("app_id", "app-1"), label("executor_id", "driver")].into();
        let node: Arc<[Label]> = vec![label("app_id", "app-1"), label("instance", "node-1")].into();
        let tasks = family("spark_tasks", MetricType::Counter);
        let heap = family("jvm_heap_bytes", MetricType::Gauge);
        let failed = series(
            &tasks,
            "spark_tasks_total",
            &driver,
            &[("status", "failed")],
        );
        // Made by another claim: the same labels in a copy of their own, the same resource.
        let driver_again: Arc<[Label]> = driver.to_vec().into();
        let done = series(
            &tasks,
            "spark_tasks_total",
            &driver_again,
            &[("status", "done")],
        );
        let used = series(&heap, "jvm_heap_bytes", &node, &[]);
        let mut encoder = RequestEncoderOtlp::default();
        let batch = [
            sample(&failed, 1_000, 1.0),
            sample(&used, 1_000, 512.0),
            sample(&done, 1_000, 7.0),
            sample(&failed, 2_000, 2.0),
        ];
        let (body, proto_len) = encoder.encode(&batch).unwrap();
        let request = decode_body(body);
        assert!(proto_len > 0);
        assert_eq!(
            request.resource_metrics.len(),
            2,
            "one resource per set of common labels"
        );
        let first = &request.resource_metrics[0];
        assert_eq!(
            pairs(&first.resource.as_ref().unwrap().attributes),
            strings(&[("app_id", "app-1"), ("executor_id", "driver")])
        );
        let scope = &first.scope_metrics[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "sparkprom");
        assert_eq!(scope.metrics.len(), 1);
        let metric = &scope.metrics[0];
        assert_eq!(
            (
                metric.name.as_str(),
                metric.description.as_str(),
                metric.unit.as_str()
            ),
            ("spark_tasks_total", "help of spark_tasks", "seconds")
        );
        let Some(metric::Data::Sum(sum)) = &metric.data else {
            panic!("a counter is a sum: {metric:?}");
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let points: Vec<_> = sum
            .data_points
            .iter()
            .map(|p| (pairs(&p.attributes), p.time_unix_nano, p.value))
            .collect();
        let value = |v| Some(number_data_point::Value::AsDouble(v));
        assert_eq!(
            points,
            vec![
                (strings(&[("status", "failed")]), 1_000_000_000, value(1.0)),
                (strings(&[("status", "failed")]), 2_000_000_000, value(2.0)),
                (strings(&[("status", "done")]), 1_000_000_000, value(7.0)),
            ]
        );
        let second = &request.resource_metrics[1];
        assert_eq!(
            pairs(&second.resource.as_ref().unwrap().attributes),
            strings(&[("app_id", "app-1"), ("instance", "node-1")])
        );
        let metric = &second.scope_metrics[0].metrics[0];
        let Some(metric::Data::Gauge(gauge)) = &metric.data else {
            panic!("a gauge is a gauge: {metric:?}");
        };
        assert_eq!(gauge.data_points.len(), 1);
        assert!(gauge.data_points[0].attributes.is_empty());
        assert_eq!(gauge.data_points[0].value, value(512.0));
        assert_eq!(gauge.data_points[0].start_time_unix_nano, 0);
    }

    #[test]
    fn sums_carry_their_start_and_a_stale_marker_is_a_point_without_a_value() {
        let common: Arc<[Label]> = vec![label("app_id", "a")].into();
        let tasks = family("spark_tasks", MetricType::Counter);
        let labels = vec![label("app_id", "a"), label("__name__", "spark_tasks_total")];
        let started = Arc::new(Series::new(labels, tasks).sharing(common).starting_at(500));
        let mut encoder = RequestEncoderOtlp::default();
        let (body, _) = encoder
            .encode(&[
                sample(&started, 1_000, 3.0),
                sample(&started, 2_000, STALE_NAN),
            ])
            .unwrap();
        let request = decode_body(body);
        let Some(metric::Data::Sum(sum)) =
            &request.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("a sum");
        };
        let points = &sum.data_points;
        assert_eq!(points[0].start_time_unix_nano, 500_000_000);
        assert_eq!(points[0].flags, 0);
        assert_eq!(points[1].flags, FLAG_NO_RECORDED_VALUE);
        assert_eq!(points[1].value, None);
        assert_eq!(points[1].time_unix_nano, 2_000_000_000);
    }

    #[test]
    fn histogram_and_summary_series_are_sums_and_gauges_under_their_own_names() {
        let common: Arc<[Label]> = Arc::new([]);
        let duration = family("spark_task_duration_seconds", MetricType::Histogram);
        let latency = family("spark_latency_seconds", MetricType::Summary);
        let bucket = series(
            &duration,
            "spark_task_duration_seconds_bucket",
            &common,
            &[("le", "1")],
        );
        let total = series(&duration, "spark_task_duration_seconds_sum", &common, &[]);
        let count = series(&duration, "spark_task_duration_seconds_count", &common, &[]);
        let quantile = series(
            &latency,
            "spark_latency_seconds",
            &common,
            &[("quantile", "0.5")],
        );
        let observed = series(&latency, "spark_latency_seconds_count", &common, &[]);
        let batch: Vec<Sample> = [&bucket, &total, &count, &quantile, &observed]
            .into_iter()
            .map(|s| sample(s, 1_000, 1.0))
            .collect();
        let mut encoder = RequestEncoderOtlp::default();
        let (body, _) = encoder.encode(&batch).unwrap();
        let request = decode_body(body);
        let kinds: Vec<(String, Option<bool>)> = request.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| {
                let monotonic = match &m.data {
                    Some(metric::Data::Sum(s)) => Some(s.is_monotonic),
                    _ => None,
                };
                (m.name.clone(), monotonic)
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("spark_task_duration_seconds_bucket".to_string(), Some(true)),
                ("spark_task_duration_seconds_sum".to_string(), Some(false)),
                ("spark_task_duration_seconds_count".to_string(), Some(true)),
                ("spark_latency_seconds".to_string(), None),
                ("spark_latency_seconds_count".to_string(), Some(true)),
            ]
        );
    }
}
