"""Secured receivers with real Spark: the driver and both executors of a local-cluster job sign
with credentials from a web identity (as on EMR on EKS) and their data reaches the real
Prometheus through a receiver that checks each signature with botocore; two more sinks of the
same job use a bearer token and basic auth. Afterwards no secret is in any log Spark wrote, and
Spark's own redaction hides the secret files' properties in the event log."""
import json

from harness.fake_aws import FakeSts, KeyStore, RecordingReceiver, SigV4Receiver, basic
from harness.paths import JOBS, newest_version, spark_install
from harness.spark import sink_conf, submit
from test_auth import clean_environment
from test_end_to_end import last

REGION = "us-west-2"
WEB_IDENTITY_TOKEN = "eks-projected-service-account-token-7f3a9c"
BEARER_TOKEN = "mimir-bearer-token-51e2d0"
PASSWORD = "grafana-cloud-password-b64c77"


def test_signed_bearer_and_basic_auth_sinks_in_a_real_job(prometheus, tmp_path):
    issued = KeyStore()
    (tmp_path / "token").write_text(WEB_IDENTITY_TOKEN + "\n")
    (tmp_path / "bearer").write_text(BEARER_TOKEN + "\n")
    (tmp_path / "password").write_text(PASSWORD + "\n")
    events = tmp_path / "events"
    events.mkdir()
    with FakeSts(issued, REGION, web_identity_tokens={WEB_IDENTITY_TOKEN}) as sts, \
            SigV4Receiver(issued, REGION, forward_to=prometheus.write_url) as amp, \
            RecordingReceiver() as mimir, RecordingReceiver() as grafana:
        conf = sink_conf(f"{amp.url}/workspaces/ws-spark/api/v1/remote_write", name="amp")
        conf["spark.metrics.conf.*.sink.amp.sigv4.region"] = REGION
        for name, receiver in (("mimir", mimir), ("grafana", grafana)):
            conf[f"spark.metrics.conf.*.sink.{name}.class"] = "io.sparkprom.RemoteWriteSink"
            conf[f"spark.metrics.conf.*.sink.{name}.url"] = f"{receiver.url}/push"
            conf[f"spark.metrics.conf.*.sink.{name}.period"] = "2"
        conf["spark.metrics.conf.*.sink.mimir.bearerTokenFile"] = str(tmp_path / "bearer")
        conf["spark.metrics.conf.*.sink.grafana.basicAuth.username"] = "stack-1234"
        conf["spark.metrics.conf.*.sink.grafana.basicAuth.passwordFile"] = str(tmp_path / "password")
        conf["spark.eventLog.enabled"] = "true"
        conf["spark.eventLog.dir"] = f"file://{events}"
        # Spark 4 compresses event logs by default; the search below reads them as text.
        conf["spark.eventLog.compress"] = "false"
        env = clean_environment(AWS_ROLE_ARN="arn:aws:iam::111122223333:role/spark-job",
                                AWS_WEB_IDENTITY_TOKEN_FILE=str(tmp_path / "token"),
                                AWS_ENDPOINT_URL_STS=sts.url)
        run = submit(spark_install(newest_version()), JOBS / "count_job.py", ["8"], conf=conf, env=env)
        assert run.returncode == 0, run.output[-3000:]

    app = run.app_id
    assert amp.requests and not amp.refused(), amp.refused()[:5]
    # One web identity exchange per JVM (driver and two executors).
    assert len(sts.calls) >= 3 and {t for _, _, t in sts.calls} == {WEB_IDENTITY_TOKEN}, sts.calls
    pushed = last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{app}", role=~"driver|executor"}}',
                  lambda r: len(r) == 3)
    assert {labels.get("executor_id") for labels, _ in pushed} == {"driver", "0", "1"}, pushed
    assert mimir.requests and set(mimir.header_values("Authorization")) == {f"Bearer {BEARER_TOKEN}"}
    assert grafana.requests and set(grafana.header_values("Authorization")) == {basic("stack-1234", PASSWORD)}

    logs = [run.output, *run.executor_logs().values()]
    event_files = [p for p in events.rglob("*") if p.is_file()]
    logs += [p.read_text(errors="replace") for p in event_files]
    secrets = [WEB_IDENTITY_TOKEN, BEARER_TOKEN, PASSWORD, basic("stack-1234", PASSWORD).split()[1],
               *issued.secrets()]
    everything = "\n".join(logs)
    assert len(run.executor_logs()) == 2 and event_files
    assert not [s for s in secrets if s in everything]

    # Spark's default spark.redaction.regex hides the secret files' paths in the event log.
    environment = next(json.loads(line) for p in event_files for line in p.read_text().splitlines()
                       if '"SparkListenerEnvironmentUpdate"' in line)
    spark_properties = dict(environment["Spark Properties"])
    for key in ("spark.metrics.conf.*.sink.mimir.bearerTokenFile",
                "spark.metrics.conf.*.sink.grafana.basicAuth.passwordFile"):
        assert spark_properties[key] == "*********(redacted)", (key, spark_properties.get(key))
