"""protocol=otlp against the official reading of OTLP: examples/push (one simulated JVM, the real
core) sends OTLP/HTTP to a recording receiver, and every body is decoded with the classes the
`opentelemetry-proto` package generates from opentelemetry-proto's .proto files, field by field;
and the same requests signed with SigV4 (over the gzipped body) verify with botocore's signer.
The whole stream into a real OTLP receiver: test_receivers.py (VictoriaMetrics)."""
import gzip

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, DataPointFlags

from harness.fake_aws import KeyStore, Server, SigV4Receiver
from test_auth import REGION, clean_environment, push

REPORTS = 3


def test_an_otlp_body_decodes_with_the_official_classes_field_by_field():
    receiver = Server(lambda request: (200, {"Content-Type": "application/x-protobuf"}, b""))
    summary, log = push({"url": f"{receiver.url}/opentelemetry/v1/metrics", "protocol": "otlp",
                         "labels": "team=data"}, clean_environment(), reports=REPORTS)
    assert summary["sent"] > 0 and summary["rejected"] == summary["failed"] == 0, (summary, log[-2000:])
    assert receiver.requests, "no request arrived"
    gauges, sums = {}, {}
    for request in receiver.requests:
        assert request.header("Content-Type") == "application/x-protobuf"
        assert request.header("Content-Encoding") == "gzip"
        assert request.header("X-Prometheus-Remote-Write-Version") is None
        body = ExportMetricsServiceRequest.FromString(gzip.decompress(request.body))
        for resource_metrics in body.resource_metrics:
            resource = {kv.key: kv.value.string_value for kv in resource_metrics.resource.attributes}
            # The identity and the user's labels, under our own names, as string values.
            assert all(kv.value.WhichOneof("value") == "string_value" for kv in resource_metrics.resource.attributes)
            assert {"app_id": "app-push", "executor_id": "1", "team": "data"}.items() <= resource.items(), resource
            (scope,) = resource_metrics.scope_metrics
            assert scope.scope.name == "sparkprom" and scope.scope.version
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                assert kind in ("gauge", "sum"), metric.name
                assert metric.description, metric.name
                points = getattr(metric, kind).data_points
                for point in points:
                    # No attribute repeats a resource's: the receiver would see the label twice.
                    assert not {kv.key for kv in point.attributes} & resource.keys(), metric.name
                if kind == "sum":
                    assert metric.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
                    sums.setdefault(metric.name, []).extend((metric.sum.is_monotonic, p) for p in points)
                else:
                    gauges.setdefault(metric.name, []).extend(points)

    # Each pushed gauge: the value of every report in order (report n reads n), then its end: a
    # point flagged as having no recorded value, and no value.
    pushed = {name: points for name, points in gauges.items() if name.startswith("spark_")}
    assert len(pushed) == 10, sorted(gauges)
    for name, points in pushed.items():
        *values, end = points
        assert [p.as_double for p in values] == [float(n) for n in range(REPORTS)], name
        assert all(p.WhichOneof("value") == "as_double" and p.flags == 0 for p in values), name
        assert end.flags == DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK and end.WhichOneof("value") is None
        times = [p.time_unix_nano for p in points]
        assert times == sorted(times) and times[0] > 1.6e18, name  # nanoseconds since the epoch
    # A counter of the sink's own: a monotonic cumulative sum whose start is before each point.
    sent = sums["sparkprom_samples_sent_total"]
    assert all(monotonic for monotonic, _ in sent)
    assert any(p.as_double > 0 for _, p in sent)
    assert all(p.start_time_unix_nano == 0 or p.start_time_unix_nano <= p.time_unix_nano for _, p in sent)


def test_otlp_requests_signed_with_sigv4_verify_with_botocore():
    keys = KeyStore()
    keys.add("AKIDOTLPTEST", "otlp-secret-" + "x" * 20, None)
    receiver = SigV4Receiver(keys, REGION, service="monitoring")
    secret, _ = keys.keys["AKIDOTLPTEST"]
    env = clean_environment(AWS_ACCESS_KEY_ID="AKIDOTLPTEST", AWS_SECRET_ACCESS_KEY=secret)
    summary, log = push({"url": f"{receiver.url}/v1/metrics", "protocol": "otlp", "sigv4.region": REGION,
                         "sigv4.service": "monitoring"}, env)
    assert summary["sent"] > 0 and summary["rejected"] == 0, (summary, receiver.refused(), log[-2000:])
    assert receiver.verified_keys() == ["AKIDOTLPTEST"]
    assert all(r.header("Content-Encoding") == "gzip" for r in receiver.requests)
