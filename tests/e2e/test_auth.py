"""Authentication and TLS through the whole core (properties, credential sources, signing,
HTTP client), driven by examples/push, one simulated JVM per run. Receivers and AWS services
are local fakes on 127.0.0.1; every SigV4 signature is checked with botocore's signer."""
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.fake_aws import (FakeContainerCredentials, FakeImds, FakeSts, KeyStore, RecordingReceiver,
                              SigV4Receiver, basic)
from harness.paths import RELEASE

PUSH = RELEASE / "examples" / "push"
REGION = "eu-west-1"
# Temporary credentials live this long: 4 s past the sink's 5-minute renewal margin, so a run
# of a few seconds sees them renewed.
SHORT_LIFETIME = 300 + 4
# Every run's stderr and stdout, for the test that looks for secrets in them.
ALL_OUTPUT = []


def clean_environment(**extra):
    """The test process' environment without any AWS setting of the machine, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # Never reach a real instance metadata service from a test.
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def push(properties: dict, env: dict, reports=3, period_ms=200, expect_start=True):
    """Runs one simulated JVM; returns (summary dict or None, stderr)."""
    if not PUSH.exists():
        pytest.fail(f"build first (cargo build --release --examples): missing {PUSH}")
    props = {"node.enabled": "false", "minBackoff": "50ms", "maxBackoff": "200ms", "timeout": "5s",
             "flushTimeout": "3s", "batchDeadline": "100ms", "logLevel": "debug", **properties}
    command = [str(PUSH), "--reports", str(reports), "--period-ms", str(period_ms),
               *(f"{k}={v}" for k, v in props.items())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    ALL_OUTPUT.append(result.stdout + result.stderr)
    if expect_start:
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr
    return None, result.stderr


def write_url(server):
    return f"{server.url}/workspaces/ws-test/api/v1/remote_write"


def test_sigv4_with_environment_keys_is_verified_by_botocore():
    keys = KeyStore()
    keys.add("AKIDENVTEST", "env-secret-" + "x" * 20, "env-session-token-" + "y" * 30)
    with SigV4Receiver(keys, REGION) as receiver:
        secret, token = keys.keys["AKIDENVTEST"]
        env = clean_environment(AWS_ACCESS_KEY_ID="AKIDENVTEST", AWS_SECRET_ACCESS_KEY=secret,
                                AWS_SESSION_TOKEN=token)
        summary, log = push({"url": write_url(receiver), "sigv4.region": REGION}, env)
    assert summary["sent"] > 0 and summary["rejected"] == 0, (summary, receiver.refused(), log)
    assert receiver.verified_keys() == ["AKIDENVTEST"]
    assert "credentials from environment variables" in log


def test_retried_requests_are_signed_again():
    keys = KeyStore()
    keys.add("AKIDENVTEST", "env-secret-for-retries", None)
    with SigV4Receiver(keys, REGION, unavailable_first=3) as receiver:
        env = clean_environment(AWS_ACCESS_KEY_ID="AKIDENVTEST", AWS_SECRET_ACCESS_KEY="env-secret-for-retries")
        summary, _ = push({"url": write_url(receiver), "sigv4.region": REGION, "minBackoff": "600ms",
                           "maxBackoff": "1s"}, env, reports=1)
    assert summary["retries"] >= 3 and summary["rejected"] == 0 and summary["sent"] > 0, summary
    attempts = receiver.requests[:4]
    # Every attempt verified, and each carries its own signing time (backoff > 1 s apart in total).
    assert [r.status for r in attempts] == [503, 503, 503, 204], [(r.status, r.note) for r in attempts]
    assert len({r.header("X-Amz-Date") for r in attempts}) >= 2
    assert len({r.header("Authorization") for r in attempts}) >= 2


def test_a_request_signed_with_the_wrong_secret_is_refused():
    # The verifier can fail: the same run with a secret the receiver does not know is refused.
    keys = KeyStore()
    keys.add("AKIDENVTEST", "the-receivers-secret")
    with SigV4Receiver(keys, REGION) as receiver:
        env = clean_environment(AWS_ACCESS_KEY_ID="AKIDENVTEST", AWS_SECRET_ACCESS_KEY="another-secret")
        summary, log = push({"url": write_url(receiver), "sigv4.region": REGION}, env)
    assert summary["sent"] == 0 and summary["rejected"] > 0, summary
    assert receiver.refused() and all("signature mismatch" in note for note in receiver.refused())
    assert "HTTP 403" in log


def test_region_for_signing_comes_from_the_environment_when_the_property_is_empty():
    keys = KeyStore()
    keys.add("AKIDENVTEST", "s3cr3t-value-for-region-test")
    with SigV4Receiver(keys, "ap-south-1") as receiver:
        env = clean_environment(AWS_ACCESS_KEY_ID="AKIDENVTEST", AWS_SECRET_ACCESS_KEY="s3cr3t-value-for-region-test",
                                AWS_REGION="ap-south-1")
        summary, _ = push({"url": write_url(receiver), "sigv4.region": ""}, env)
    assert summary["rejected"] == 0 and receiver.verified_keys() == ["AKIDENVTEST"]


def test_web_identity_token_is_exchanged_at_sts_and_credentials_renewed_before_expiry(tmp_path):
    issued = KeyStore(lifetime_seconds=SHORT_LIFETIME)
    token_file = tmp_path / "token"
    token_file.write_text("web-identity-token-one\n")
    role = "arn:aws:iam::111122223333:role/emr-job"
    with FakeSts(issued, REGION, web_identity_tokens={"web-identity-token-one", "web-identity-token-two"}) as sts, \
            SigV4Receiver(issued, REGION) as receiver:
        env = clean_environment(AWS_ROLE_ARN=role, AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                                AWS_ENDPOINT_URL_STS=sts.url)

        def rotate_after_first_exchange():
            while not sts.calls:
                time.sleep(0.05)
            token_file.write_text("web-identity-token-two\n")

        rotation = threading.Thread(target=rotate_after_first_exchange, daemon=True)
        rotation.start()
        summary, log = push({"url": write_url(receiver), "sigv4.region": REGION}, env, reports=24, period_ms=500)
    assert summary["sent"] > 0 and summary["rejected"] == 0, (summary, receiver.refused())
    assert [(a, r) for a, r, _ in sts.calls][:2] == [("AssumeRoleWithWebIdentity", role)] * 2, sts.calls
    tokens = [t for _, _, t in sts.calls]
    assert tokens[0] == "web-identity-token-one" and "web-identity-token-two" in tokens[1:], tokens
    # Renewed before expiry: requests went out signed by more than one issued key, none refused.
    assert len(receiver.verified_keys()) >= 2, receiver.verified_keys()
    assert receiver.verified_keys()[0] == "ASIASTS0001"


def test_instance_profile_credentials_come_through_imdsv2_token_step():
    issued = KeyStore(lifetime_seconds=SHORT_LIFETIME)
    with FakeImds(issued) as imds, SigV4Receiver(issued, REGION) as receiver:
        env = clean_environment(AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
        del env["AWS_EC2_METADATA_DISABLED"]
        summary, log = push({"url": write_url(receiver), "sigv4.region": REGION}, env, reports=24, period_ms=500)
    assert summary["sent"] > 0 and summary["rejected"] == 0, (summary, receiver.refused())
    assert "the instance profile (IMDSv2" in log
    # Each renewal: PUT for a token, then both GETs with it; no metadata read without a token.
    assert imds.requests[0].method == "PUT" and imds.requests[0].path == "/latest/api/token"
    assert all(r.status in (200,) for r in imds.requests), [(r.method, r.path, r.status) for r in imds.requests]
    assert len(imds.credential_fetches()) >= 2
    assert len(receiver.verified_keys()) >= 2


def test_container_credentials_use_the_pod_identity_token_file(tmp_path):
    issued = KeyStore(lifetime_seconds=SHORT_LIFETIME)
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text("pod-identity-token-abc")
    with FakeContainerCredentials(issued, valid_tokens={"pod-identity-token-abc"}) as agent, \
            SigV4Receiver(issued, REGION) as receiver:
        env = clean_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{agent.url}/v1/credentials",
                                AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file))
        summary, log = push({"url": write_url(receiver), "sigv4.region": REGION}, env, reports=24, period_ms=500)
    assert summary["sent"] > 0 and summary["rejected"] == 0, (summary, receiver.refused())
    assert [r.status for r in agent.requests].count(200) >= 2, [r.status for r in agent.requests]
    assert len(receiver.verified_keys()) >= 2


def test_role_arn_is_assumed_with_a_signed_sts_call():
    base = KeyStore()
    base.add("AKIDBASE", "base-account-secret-value")
    assumed = KeyStore()
    target = "arn:aws:iam::444455556666:role/amp-writer"
    with FakeSts(assumed, REGION, signer_keys=base) as sts, SigV4Receiver(assumed, REGION) as receiver:
        env = clean_environment(AWS_ACCESS_KEY_ID="AKIDBASE", AWS_SECRET_ACCESS_KEY="base-account-secret-value",
                                AWS_ENDPOINT_URL_STS=sts.url)
        summary, log = push({"url": write_url(receiver), "sigv4.region": REGION, "sigv4.roleArn": target}, env)
    assert sts.calls == [("AssumeRole", target, "AKIDBASE")], sts.calls
    assert summary["sent"] > 0 and summary["rejected"] == 0
    # The receiver knows only the assumed role's keys: the base keys never signed a write.
    assert receiver.verified_keys() == ["ASIASTS0001"]


def test_failing_credentials_are_retried_and_named_in_the_log(tmp_path):
    issued = KeyStore()
    token_file = tmp_path / "token"
    token_file.write_text("a-token-sts-does-not-accept")
    with FakeSts(issued, REGION, web_identity_tokens={"the-right-token"}) as sts, \
            SigV4Receiver(issued, REGION) as receiver:
        env = clean_environment(AWS_ROLE_ARN="arn:aws:iam::1:role/r", AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                                AWS_ENDPOINT_URL_STS=sts.url)
        summary, log = push({"url": write_url(receiver), "sigv4.region": REGION}, env, reports=2)
    assert summary["sent"] == 0 and summary["failed"] > 0, summary
    assert receiver.requests == []
    assert "InvalidIdentityToken" in log and len(sts.calls) >= 2


def test_bearer_token_file_is_read_again_when_it_changes(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("bearer-token-first\n")
    with RecordingReceiver() as receiver:
        def rotate():
            while not receiver.requests:
                time.sleep(0.02)
            token_file.write_text("bearer-token-second-longer\n")

        threading.Thread(target=rotate, daemon=True).start()
        summary, _ = push({"url": f"{receiver.url}/push", "bearerTokenFile": str(token_file)},
                          clean_environment(), reports=10)
    values = receiver.header_values("Authorization")
    assert values[0] == "Bearer bearer-token-first"
    assert values[-1] == "Bearer bearer-token-second-longer", values
    assert set(values) == {"Bearer bearer-token-first", "Bearer bearer-token-second-longer"}


def test_basic_auth_and_extra_headers_are_sent(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("basic-auth-password-42\n")
    with RecordingReceiver() as receiver:
        summary, _ = push({"url": f"{receiver.url}/push", "basicAuth.username": "grafana-user",
                           "basicAuth.passwordFile": str(password_file),
                           "headers": "X-Scope-OrgID=team-a,X-Extra=1"}, clean_environment())
    assert summary["sent"] > 0
    assert set(receiver.header_values("Authorization")) == {basic("grafana-user", "basic-auth-password-42")}
    assert set(receiver.header_values("X-Scope-OrgID")) == {"team-a"}
    assert set(receiver.header_values("X-Extra")) == {"1"}


def test_an_unreadable_secret_file_fails_the_start_naming_the_property(tmp_path):
    _, log = push({"url": "http://127.0.0.1:9/push", "bearerTokenFile": str(tmp_path / "absent")},
                  clean_environment(), expect_start=False)
    assert "'bearerTokenFile'" in log and "absent" in log, log


def make_ca(directory: Path):
    """A self-signed CA, a server certificate for 127.0.0.1 and a client certificate."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sparkprom test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr")
        (directory / f"{name}.ext").write_text(extension + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return directory


def tls_context(ca: Path, require_client_certificate=False):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca / "server.pem", ca / "server.key")
    if require_client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ca / "ca.pem")
    return context


def test_tls_receiver_with_a_private_ca_needs_the_ca_file(tmp_path):
    ca = make_ca(tmp_path)
    with RecordingReceiver(tls=tls_context(ca)) as receiver:
        url = f"{receiver.url}/push"
        without, log = push({"url": url}, clean_environment(), reports=1)
        assert without["sent"] == 0 and receiver.requests == [], without
        assert "certificate" in log.lower(), log[-2000:]
        with_ca, _ = push({"url": url, "tls.caFile": str(ca / "ca.pem")}, clean_environment(), reports=1)
    assert with_ca["sent"] > 0 and with_ca["failed"] == 0, with_ca
    assert len(receiver.requests) >= 1


def test_tls_client_certificate_is_presented(tmp_path):
    ca = make_ca(tmp_path)
    with RecordingReceiver(tls=tls_context(ca, require_client_certificate=True)) as receiver:
        url = f"{receiver.url}/push"
        without, _ = push({"url": url, "tls.caFile": str(ca / "ca.pem")}, clean_environment(), reports=1)
        assert without["sent"] == 0 and receiver.requests == [], without
        with_cert, _ = push({"url": url, "tls.caFile": str(ca / "ca.pem"), "tls.certFile": str(ca / "client.pem"),
                             "tls.keyFile": str(ca / "client.key")}, clean_environment(), reports=1)
    assert with_cert["sent"] > 0, with_cert
    _, log = push({"url": url, "tls.caFile": str(ca / "missing.pem")}, clean_environment(), expect_start=False)
    assert "'tls.caFile'" in log


def test_no_secret_reaches_any_log_line():
    """Runs last in this module: every run above (successes, refusals, failures at debug level)
    left its output in ALL_OUTPUT; none of the secrets those runs used may appear in it."""
    known = ["env-session-token-", "env-secret-", "env-secret-for-retries", "the-receivers-secret", "another-secret",
             "s3cr3t-value-for-region-test", "web-identity-token-one", "web-identity-token-two",
             "pod-identity-token-abc", "base-account-secret-value", "a-token-sts-does-not-accept",
             "bearer-token-first", "bearer-token-second-longer", "basic-auth-password-42",
             basic("grafana-user", "basic-auth-password-42").split()[1]]
    known += [s for store in KeyStore.instances for s in store.secrets()]
    assert len(ALL_OUTPUT) >= 10, "run the whole module: this test reads the other tests' output"
    text = "\n".join(ALL_OUTPUT)
    found = [s for s in known if s in text]
    assert not found, f"secrets in the logs: {found}"
