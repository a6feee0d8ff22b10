"""`java -jar sparkprom.jar check <file>`: the self-check a user runs before touching a cluster.
Against the real Prometheus (accepted, and the sample is there), a dead port, a wrong path, an
invalid or misspelt property, and the SigV4-checking receiver (accepted; a region the workspace
is not in; no credentials anywhere); and over every configuration file the project ships, in the
format users have it (properties, spark-defaults, JSON, YAML). Exit code 0 only when the receiver
accepted the sample."""
import socket
import subprocess
import time

import pytest

from harness.fake_aws import KeyStore, SigV4Receiver
from harness.paths import DIST_JAR, REPO
from harness.prometheus import free_port
from test_auth import clean_environment

SINK = "io.sparkprom.RemoteWriteSink"


def check(tmp_path, lines, env=None, jar=DIST_JAR):
    config = tmp_path / "metrics.properties"
    config.write_text("\n".join(lines) + "\n")
    return check_file(config, env, jar)


def check_file(path, env=None, jar=DIST_JAR):
    result = subprocess.run(["java", "-jar", str(jar), "check", str(path)], capture_output=True, text=True,
                            timeout=120, env=env or clean_environment())
    return result.returncode, result.stdout + result.stderr


def test_a_sample_accepted_by_prometheus_exits_0_and_arrives(prometheus, tmp_path):
    started = time.time()
    code, out = check(tmp_path, [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={prometheus.write_url}",
                                 "*.sink.prom.labels=cluster=check-test", "*.sink.prom.period=5"])
    assert code == 0, out
    assert "--   authentication: none" in out and "ok   authentication" not in out, out
    assert "ok   the receiver accepted one sample in remote write 1.0: sparkprom_check_timestamp_seconds{cluster=\"check-test\"" in out, out
    assert "OK: every sink's sample was accepted" in out
    result = prometheus.wait_for('sparkprom_check_timestamp_seconds{cluster="check-test"}', lambda r: len(r) == 1)
    labels, value = result[0]
    assert value >= started - 1 and labels["instance"] == socket.gethostname(), result


def test_protocol_auto_finds_that_prometheus_2_42_takes_only_1_0_and_2_0_fails_naming_the_fix(prometheus, tmp_path):
    """A real Prometheus 2.42 stores nothing of a 2.0 request and says so only by leaving out the
    written headers: the check, as a sink, falls back to 1.0 with protocol=auto (the sample
    arrives), and with protocol=2.0 fails naming what to set."""
    conf = [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={prometheus.write_url}",
            "*.sink.prom.labels=cluster=check-auto"]
    code, out = check(tmp_path, conf + ["*.sink.prom.protocol=auto"])
    assert code == 0, out
    assert "does not take remote write 2.0: protocol=auto sends it 1.0" in out, out
    assert "accepted one sample in remote write 1.0" in out, out
    prometheus.wait_for('sparkprom_check_timestamp_seconds{cluster="check-auto"}', lambda r: len(r) == 1)
    code, out = check(tmp_path, conf + ["*.sink.prom.protocol=2.0"])
    assert code != 0, out
    assert "FAIL the receiver does not take remote write 2.0 (protocol=2.0): set protocol=auto" in out, out


def test_spark_conf_lines_as_a_policy_or_classification_carries_them(prometheus, tmp_path):
    """The spark.metrics.conf.* form, `key value` as in spark-defaults.conf, and per-instance
    overrides: the driver's and the executors' sinks are checked each."""
    code, out = check(tmp_path, [f"spark.metrics.conf.*.sink.prom.class {SINK}",
                                 f"spark.metrics.conf.*.sink.prom.url {prometheus.write_url}",
                                 "spark.metrics.conf.executor.sink.prom.labels cluster=executors",
                                 "spark.metrics.conf.*.source.jvm.class org.apache.spark.metrics.source.JvmSource"])
    assert code == 0, out
    assert "sink 'prom' for instance *:" in out and "sink 'prom' for instance executor:" in out, out
    assert out.count("ok   the receiver accepted one sample") == 2, out


def test_a_dead_port_an_invalid_property_a_wrong_path_and_no_sink_each_fail_naming_the_cause(prometheus, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/api/v1/write"
    code, out = check(tmp_path, [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={dead}"])
    assert code == 1 and "FAIL the sample was not delivered" in out and "Connection refused" in out, out

    code, out = check(tmp_path, [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={prometheus.write_url}",
                                 "*.sink.prom.maxSeries=lots"])
    assert code == 1 and "FAIL sparkprom: invalid sink property 'maxSeries' (spark.metrics.conf.*.sink.prom." \
        "maxSeries): 'lots' is not accepted; expected a whole number from 1 to 1000000" in out, out
    assert "accepted one sample" not in out

    # A label of ours in the user's labels would be on a series twice (Prometheus refuses the whole
    # request): check says so; `job`, Prometheus' own label, is the user's.
    code, out = check(tmp_path, [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={prometheus.write_url}",
                                 "*.sink.prom.labels=job=nightly,stage=prod"])
    assert code == 1 and "FAIL sparkprom: invalid sink property 'labels' (spark.metrics.conf.*.sink.prom.labels): 'stage' is a label sparkprom's" in out, out

    code, out = check(tmp_path, [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={prometheus.write_url}",
                                 "*.sink.prom.listener.maxKeys=0"])
    assert code == 1 and "FAIL sparkprom: invalid sink property 'listener.maxKeys'" in out, out

    code, out = check(tmp_path, [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={prometheus.url}/api/v1/push"])
    assert code == 1 and "refused the sample with HTTP 404" in out, out
    assert "hint: no remote-write endpoint at this path" in out and "/api/v1/write" in out, out

    code, out = check(tmp_path, ["*.sink.console.class=org.apache.spark.metrics.sink.ConsoleSink"])
    assert code == 1 and f"FAIL no sink with class={SINK}" in out, out


def test_misspelt_properties_fail_with_what_they_meant(prometheus, tmp_path):
    """A sink ignores a property it does not know (with a WARN): a CI gate must not pass it."""
    code, out = check(tmp_path, [f"*.sink.prom.class={SINK}", f"*.sink.prom.url={prometheus.write_url}",
                                 "*.sink.prom.perod=5", "*.sink.prom.lables=team=a"])
    assert code == 1, out
    assert "FAIL property 'perod' is not one sparkprom reads; did you mean 'period'?" in out, out
    assert "FAIL property 'lables' is not one sparkprom reads; did you mean 'labels'?" in out, out
    assert "accepted one sample" not in out, out


def test_a_url_without_scheme_an_amp_url_without_sigv4_and_a_bad_value_of_the_second_sink(tmp_path):
    """Each told at once, before anything is sent, naming what to set (and which sink)."""
    code, out = check(tmp_path, [f"*.sink.a.class={SINK}", "*.sink.a.url=prometheus.internal:9090/api/v1/write"])
    assert code == 1 and "has no scheme: add https:// (or http://), e.g. https://prometheus.internal" in out, out
    amp = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
    code, out = check(tmp_path, [f"*.sink.amp.class={SINK}", f"*.sink.amp.url={amp}"])
    assert code == 1 and "accepts only SigV4-signed writes: set sigv4.region" in out, out
    code, out = check(tmp_path, [f"*.sink.a.class={SINK}", "*.sink.a.url=http://127.0.0.1:9/w",
                                 f"*.sink.b.class={SINK}", "*.sink.b.url=http://127.0.0.1:9/w", "*.sink.b.capacity=10"])
    assert code == 1, out
    assert ("FAIL sparkprom: invalid sink property 'capacity' (spark.metrics.conf.*.sink.b.capacity): 10 is outside "
            "the accepted range 1000 to 10000000") in out, out


def amp_lines(receiver):
    return [f"*.sink.amp.class={SINK}", f"*.sink.amp.url={receiver.url}/workspaces/ws-1/api/v1/remote_write",
            "*.sink.amp.sigv4.service=aps"]


def test_sigv4_accepted_then_refused_for_the_wrong_region_then_no_credentials(tmp_path):
    keys = KeyStore()
    keys.add("AKIDCHECKTEST01", "check-secret-" + "x" * 20, None)
    secret = keys.keys["AKIDCHECKTEST01"][0]
    with SigV4Receiver(keys, "eu-west-1") as receiver:
        ok_env = clean_environment(AWS_ACCESS_KEY_ID="AKIDCHECKTEST01", AWS_SECRET_ACCESS_KEY=secret,
                                   AWS_REGION="eu-west-1")
        code, out = check(tmp_path, amp_lines(receiver), env=ok_env)
        assert code == 0, out
        assert ("authentication: SigV4 for service aps in region eu-west-1, credentials from environment "
                "variables, access key AKIDCHEC...") in out, out
        assert receiver.verified_keys() == ["AKIDCHECKTEST01"]

        code, out = check(tmp_path, amp_lines(receiver), env={**ok_env, "AWS_REGION": "us-east-2"})
        assert code == 1 and "refused the sample with HTTP 403" in out, out
        assert "hint: signed with SigV4 for service aps in region us-east-2" in out, out
        assert "access key AKIDCHEC..." in out and secret not in out, out

        code, out = check(tmp_path, amp_lines(receiver), env=clean_environment(AWS_REGION="eu-west-1"))
        assert code == 1, out
        assert "no AWS credentials" in out and "AWS_WEB_IDENTITY_TOKEN_FILE" in out, out


def test_an_amp_url_in_another_region_than_aws_region_is_a_warning(tmp_path):
    keys = KeyStore()
    keys.add("AKIDCHECKTEST02", "check-secret-" + "z" * 20, None)
    lines = [f"*.sink.amp.class={SINK}",
             "*.sink.amp.url=https://aps-workspaces.ap-southeast-2.amazonaws.com/workspaces/ws-1/api/v1/remote_write"]
    env = clean_environment(AWS_ACCESS_KEY_ID="AKIDCHECKTEST02", AWS_SECRET_ACCESS_KEY=keys.keys["AKIDCHECKTEST02"][0],
                            AWS_REGION="eu-central-1", HTTPS_PROXY=f"http://127.0.0.1:{free_port()}")
    code, out = check(tmp_path, lines + ["*.sink.amp.sigv4.service=aps"], env=env)
    # No network here: the send fails, but the warning comes before it.
    assert code == 1, out
    assert ("WARN SigV4 signs for region eu-central-1 (from AWS_REGION) but the URL is an AMP workspace in "
            "ap-southeast-2") in out, out


# Every file of spark-conf/ that sets a sink up (dashboards and pod templates set none).
SHIPPED = sorted(path for path in (REPO / "spark-conf").rglob("*")
                 if path.suffix in (".properties", ".json", ".yaml", ".conf") and ".sink." in path.read_text())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO / "spark-conf")))
def test_every_shipped_configuration_file_is_read_as_users_have_it(path):
    """metrics.properties, spark-defaults lines, the compute policy and EMR requests (JSON), the
    SparkApplication (YAML, `period: "10"`): each sink's properties all valid. Nothing listens at
    the examples' receivers; a dead proxy makes each send fail at once (with keys for SigV4)."""
    env = clean_environment(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="example",
                            HTTPS_PROXY=f"http://127.0.0.1:{free_port()}", HTTP_PROXY=f"http://127.0.0.1:{free_port()}")
    code, out = check_file(path, env)
    sinks = out.count("sink '")
    assert sinks >= 1, out
    assert out.count("ok   properties are valid") == sinks, out
    assert "FAIL property" not in out and "FAIL sparkprom" not in out and "FAIL no sink" not in out, out
