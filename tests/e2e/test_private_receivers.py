"""Receivers behind a private CA, a TLS-inspecting proxy or a forward proxy, as a company network
has them, through the whole core (examples/push: one simulated JVM) and through the jar's `check`
(a real JVM, whose trust and proxy properties the shim hands to the core). Certificates are made
with openssl; the receivers and the proxy are local."""
import subprocess
from pathlib import Path

from harness.fake_aws import RecordingReceiver
from harness.paths import DIST_JAR
from harness.prometheus import free_port
from harness.proxy import RecordingProxy
from test_auth import clean_environment, make_ca, push, tls_context

SINK = "io.sparkprom.RemoteWriteSink"


def self_signed(directory: Path, name="self", san="IP:127.0.0.1"):
    """What `openssl req -x509` makes by default: a self-signed certificate with CA:TRUE."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=receiver",
                    "-addext", f"subjectAltName={san}", "-keyout", f"{name}.key", "-out", f"{name}.pem"],
                   cwd=directory, check=True, capture_output=True)
    text = subprocess.run(["openssl", "x509", "-in", f"{name}.pem", "-noout", "-text"], cwd=directory,
                          capture_output=True, text=True, check=True).stdout
    assert "CA:TRUE" in text, text
    return directory / f"{name}.pem", directory / f"{name}.key"


def server_context(cert, key):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def check(tmp_path, url, extra=(), java_options=(), env=None):
    config = tmp_path / "metrics.properties"
    config.write_text("\n".join([f"*.sink.prom.class={SINK}", f"*.sink.prom.url={url}", *extra]) + "\n")
    result = subprocess.run(["java", *java_options, "-jar", str(DIST_JAR), "check", str(config)],
                            capture_output=True, text=True, timeout=120, env=env or clean_environment())
    return result.returncode, result.stdout + result.stderr


def test_the_os_store_is_trusted(tmp_path):
    """A private CA the machine trusts (here the OS store's SSL_CERT_FILE): no tls.caFile needed."""
    ca = make_ca(tmp_path)
    with RecordingReceiver(tls=tls_context(ca)) as receiver:
        summary, log = push({"url": f"{receiver.url}/push"}, clean_environment(SSL_CERT_FILE=str(ca / "ca.pem")),
                            reports=1)
    assert summary["sent"] > 0 and summary["rejected"] == 0, (summary, log[-2000:])


def test_the_jvms_trust_is_trusted_and_an_untrusted_certificate_says_what_to_set(tmp_path):
    """The JVM's default trust (-Djavax.net.ssl.trustStore, or a cacerts a platform added its CA
    to) reaches the core; without it the check fails naming tls.caFile, and a sink would not
    retry (a setting must change)."""
    ca = make_ca(tmp_path)
    store = tmp_path / "trust.p12"
    subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "private-ca", "-file", str(ca / "ca.pem"),
                    "-keystore", str(store), "-storetype", "PKCS12", "-storepass", "changeit"],
                   check=True, capture_output=True)
    with RecordingReceiver(tls=tls_context(ca)) as receiver:
        url = f"{receiver.url}/push"
        code, out = check(tmp_path, url, java_options=[f"-Djavax.net.ssl.trustStore={store}",
                                                       "-Djavax.net.ssl.trustStorePassword=changeit"])
        assert code == 0, out
        code, out = check(tmp_path, url)
        assert code == 1, out
        assert "FAIL the sample was not delivered (a sink would not retry)" in out, out
        assert "is signed by a CA this machine does not trust: set tls.caFile" in out, out
        accepted = len(receiver.requests)
    assert accepted == 1


def test_a_pinned_self_signed_certificate_is_accepted_for_its_host_only(tmp_path):
    """`openssl req -x509` gives CA:TRUE, which path rules refuse as a server's own certificate:
    given in tls.caFile it is pinned and accepted (as curl accepts it), but not for another name."""
    cert, key = self_signed(tmp_path)
    with RecordingReceiver(tls=server_context(cert, key)) as receiver:
        summary, log = push({"url": f"{receiver.url}/push", "tls.caFile": str(cert)}, clean_environment(), reports=1)
        assert summary["sent"] > 0 and summary["rejected"] == 0, (summary, log[-2000:])
    other, other_key = self_signed(tmp_path, "other", san="DNS:elsewhere.example")
    with RecordingReceiver(tls=server_context(other, other_key)) as receiver:
        summary, log = push({"url": f"{receiver.url}/push", "tls.caFile": str(other)}, clean_environment(), reports=1)
    assert summary["sent"] == 0 and receiver.requests == [], summary
    assert "not issued for the URL's host name" in log, log[-2000:]


def test_an_untrusted_certificate_is_a_configuration_error_not_retried(tmp_path):
    """Before: retried forever as if the network failed, with no word of what to set."""
    ca = make_ca(tmp_path)
    with RecordingReceiver(tls=tls_context(ca)) as receiver:
        summary, log = push({"url": f"{receiver.url}/push"}, clean_environment(), reports=2)
    assert summary["retries"] == 0 and summary["sent"] == 0 and summary["rejected"] > 0, summary
    assert "cannot succeed as configured" in log and "set tls.caFile" in log, log[-2000:]


def test_the_jvms_proxy_properties_are_honoured(tmp_path):
    """-Dhttps.proxyHost/-Dhttps.proxyPort (and -Dhttp.*), as spark.*.extraJavaOptions set them.
    The JDK's default http.nonProxyHosts exempts 127.*, so the test names another exemption."""
    ca = make_ca(tmp_path)
    with RecordingProxy() as proxy, RecordingReceiver(tls=tls_context(ca)) as tls_receiver, \
            RecordingReceiver() as plain_receiver:
        jvm = ["-Dhttps.proxyHost=127.0.0.1", f"-Dhttps.proxyPort={proxy.port}", "-Dhttp.proxyHost=127.0.0.1",
               f"-Dhttp.proxyPort={proxy.port}", "-Dhttp.nonProxyHosts=nothing.invalid"]
        code, out = check(tmp_path, f"{tls_receiver.url}/push", [f"*.sink.prom.tls.caFile={ca / 'ca.pem'}"], jvm)
        assert code == 0, out
        code, out = check(tmp_path, f"{plain_receiver.url}/push", java_options=jvm)
        assert code == 0, out
        # Exempt by the JVM's rules: straight to the receiver.
        code, out = check(tmp_path, f"{plain_receiver.url}/push",
                          java_options=jvm[:-1] + ["-Dhttp.nonProxyHosts=127.*"])
        assert code == 0, out
    port = tls_receiver.url.rsplit(":", 1)[1]
    assert proxy.lines == [f"CONNECT 127.0.0.1:{port}", f"POST {plain_receiver.url}/push"], proxy.lines
    assert len(plain_receiver.requests) == 2


def test_https_proxy_and_no_proxy_from_the_environment(tmp_path):
    ca = make_ca(tmp_path)
    with RecordingProxy() as proxy, RecordingReceiver(tls=tls_context(ca)) as receiver:
        url = f"{receiver.url}/push"
        through, _ = push({"url": url, "tls.caFile": str(ca / "ca.pem")}, clean_environment(HTTPS_PROXY=proxy.url),
                          reports=1)
        assert through["sent"] > 0, through
        assert proxy.lines and all(line.startswith("CONNECT 127.0.0.1:") for line in proxy.lines), proxy.lines
        seen = len(proxy.lines)
        direct, _ = push({"url": url, "tls.caFile": str(ca / "ca.pem")},
                         clean_environment(HTTPS_PROXY=proxy.url, NO_PROXY="127.0.0.1"), reports=1)
        assert direct["sent"] > 0 and len(proxy.lines) == seen, (direct, proxy.lines)


def test_a_proxy_failure_names_the_proxy_never_its_password(tmp_path):
    dead = free_port()
    summary, log = push({"url": "https://127.0.0.1:9/push", "flushTimeout": "1s"},
                        clean_environment(HTTPS_PROXY=f"http://user:pa/ss#w?rd@127.0.0.1:{dead}"), reports=1)
    assert summary["sent"] == 0, summary
    assert f"through the proxy http://***@127.0.0.1:{dead} set by HTTPS_PROXY" in log, log[-2000:]
    assert "pa/ss" not in log and "w?rd" not in log, log[-2000:]
