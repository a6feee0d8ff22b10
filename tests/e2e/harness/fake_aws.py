"""Local stand-ins for what the sink talks to on AWS, all on 127.0.0.1: a remote-write receiver
that checks every request's SigV4 signature with botocore's signer (an implementation
independent of the sink's), STS, the EC2 instance metadata service (IMDSv2) and the container
credentials service. They hand out numbered temporary credentials with a chosen lifetime, so
tests can watch the sink renew them."""
import base64
import datetime
import hmac
import json
import re
import secrets
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class Server:
    """A threaded HTTP server on 127.0.0.1 whose answers come from `handle(request)`, which
    returns (status, headers, body). Every request is kept in `requests`."""

    def __init__(self, handle, tls: ssl.SSLContext = None):
        self.handle = handle
        self.requests = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers.items()), body,
                                  f"http{'s' if tls else ''}://{self.headers.get('Host')}{self.path}")
                try:
                    status, headers, payload = server.handle(request)
                except Exception as e:  # a broken fake must show up as a failed request
                    status, headers, payload = 500, {}, f"fake failed: {e!r}".encode()
                request.status = status
                with server.lock:
                    server.requests.append(request)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        scheme = "https" if isinstance(self.httpd.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Request:
    def __init__(self, method, path, headers, body, url):
        self.method, self.path, self.body, self.url = method, path, body, url
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.status = None
        self.note = ""  # what a verifier concluded

    def header(self, name):
        return self.headers.get(name.lower())


class KeyStore:
    """Credentials the fakes issued (or a test set), by access key id, shared with the verifier.
    Temporary ones are numbered: ASIA<prefix>0001, ..."""
    # Every store made in this process: the log test looks for all their secrets.
    instances = []

    def __init__(self, lifetime_seconds=3600):
        KeyStore.instances.append(self)
        self.lifetime = lifetime_seconds
        self.keys = {}  # access key id -> (secret, session token or None)
        self.count = 0
        self.lock = threading.Lock()

    def add(self, access_key, secret, token=None):
        with self.lock:
            self.keys[access_key] = (secret, token)

    def issue(self, prefix):
        with self.lock:
            self.count += 1
            key = f"ASIA{prefix}{self.count:04d}"
            self.keys[key] = (secrets.token_urlsafe(30), secrets.token_urlsafe(60))
            secret, token = self.keys[key]
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.lifetime)
        return {"AccessKeyId": key, "SecretAccessKey": secret, "Token": token,
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def secrets(self):
        """Every secret key and session token handed out: what must never reach a log."""
        with self.lock:
            return [s for secret, token in self.keys.values() for s in (secret, token) if s]


AUTH_PATTERN = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$")


def verify_sigv4(request: Request, keys: KeyStore, region: str, service: str):
    """(access key, None) when botocore computes the same signature for this request, else
    (access key or None, why not)."""
    match = AUTH_PATTERN.match(request.header("Authorization") or "")
    if not match:
        return None, "no SigV4 Authorization header"
    key = match["key"]
    if (match["region"], match["service"]) != (region, service):
        return key, f"scope {match['region']}/{match['service']}, expected {region}/{service}"
    if key not in keys.keys:
        return key, "unknown access key"
    secret, token = keys.keys[key]
    if token is not None and request.header("X-Amz-Security-Token") != token:
        return key, "missing or wrong X-Amz-Security-Token"
    amz_date = request.header("X-Amz-Date") or ""
    signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    if abs((datetime.datetime.now(datetime.timezone.utc) - signed_at).total_seconds()) > 300:
        return key, f"X-Amz-Date {amz_date} is more than 5 minutes off"
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            return key, f"{required} is not signed"
    if token is not None and "x-amz-security-token" not in signed:
        return key, "x-amz-security-token is not signed"
    # Rebuild the request botocore would sign: exactly the signed headers, the same body.
    rebuilt = AWSRequest(method=request.method, url=request.url,
                         headers={name: request.header(name) for name in signed}, data=request.body)
    rebuilt.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key, secret, token), service, region)
    canonical = signer.canonical_request(rebuilt)
    expected = signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
    if not hmac.compare_digest(expected, match["signature"]):
        return key, "signature mismatch"
    return key, None


class SigV4Receiver(Server):
    """Accepts a remote-write request (204) only when its signature verifies; 403 otherwise.
    With `forward_to`, accepted bodies are passed on to a real receiver (Prometheus)."""

    def __init__(self, keys: KeyStore, region="us-east-1", service="aps", forward_to=None, unavailable_first=0):
        self.keys, self.region, self.service, self.forward_to = keys, region, service, forward_to
        # Answer this many (correctly signed) requests with 503 first, as AMP does when throttled.
        self.unavailable_left = unavailable_first
        super().__init__(self._handle)

    def _handle(self, request):
        key, problem = verify_sigv4(request, self.keys, self.region, self.service)
        request.note = key or ""
        if not problem and self.unavailable_left > 0:
            self.unavailable_left -= 1
            request.note = f"{key}: verified, answered 503"
            return 503, {}, b"try again"
        if problem:
            request.note = f"{key}: {problem}"
            return 403, {}, f"signature rejected: {problem}".encode()
        if self.forward_to:
            import urllib.request
            forwarded = urllib.request.Request(self.forward_to, data=request.body, method="POST", headers={
                name: request.header(name) for name in
                ("Content-Type", "Content-Encoding", "X-Prometheus-Remote-Write-Version")})
            try:
                with urllib.request.urlopen(forwarded, timeout=10):
                    pass
            except urllib.error.HTTPError as e:
                return e.code, {}, e.read()
        return 204, {}, b""

    def verified_keys(self):
        """Access keys of the accepted requests, in arrival order, without repeats."""
        seen = []
        for r in self.requests:
            if r.status == 204 and r.note not in seen:
                seen.append(r.note)
        return seen

    def refused(self):
        return [r.note for r in self.requests if r.status != 204]


class FakeSts(Server):
    """AssumeRoleWithWebIdentity (checks the token against `web_identity_tokens`) and AssumeRole
    (checks the call's own SigV4 signature, service sts, against `signer_keys`)."""

    def __init__(self, issued: KeyStore, region="us-east-1", web_identity_tokens=(), signer_keys=None):
        self.issued, self.region = issued, region
        self.web_identity_tokens = set(web_identity_tokens)
        self.signer_keys = signer_keys
        self.calls = []  # (action, role arn, web identity token or signing key)
        super().__init__(self._handle)

    def _handle(self, request):
        form = dict(urllib.parse.parse_qsl(request.body.decode()))
        action, arn = form.get("Action"), form.get("RoleArn")
        if action == "AssumeRoleWithWebIdentity":
            token = form.get("WebIdentityToken")
            self.calls.append((action, arn, token))
            if token not in self.web_identity_tokens:
                return self._error("InvalidIdentityToken", "the web identity token is not valid")
        elif action == "AssumeRole":
            key, problem = verify_sigv4(request, self.signer_keys, self.region, "sts")
            self.calls.append((action, arn, key))
            if problem:
                return self._error("SignatureDoesNotMatch", problem)
        else:
            return self._error("InvalidAction", f"unknown action {action}")
        c = self.issued.issue("STS")
        body = (f"<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result>"
                f"<Credentials><AccessKeyId>{c['AccessKeyId']}</AccessKeyId>"
                f"<SecretAccessKey>{c['SecretAccessKey']}</SecretAccessKey>"
                f"<SessionToken>{c['Token']}</SessionToken><Expiration>{c['Expiration']}</Expiration>"
                f"</Credentials></{action}Result></{action}Response>")
        return 200, {"Content-Type": "text/xml"}, body.encode()

    @staticmethod
    def _error(code, message):
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></ErrorResponse>")
        return 403, {"Content-Type": "text/xml"}, body.encode()


class FakeImds(Server):
    """IMDSv2: PUT /latest/api/token first; every metadata GET must carry that token."""
    ROLE = "sparkprom-node-role"

    def __init__(self, issued: KeyStore):
        self.issued = issued
        self.tokens = set()
        super().__init__(self._handle)

    def _handle(self, request):
        if request.path == "/latest/api/token":
            if request.method != "PUT" or not request.header("X-aws-ec2-metadata-token-ttl-seconds"):
                return 400, {}, b"a PUT with X-aws-ec2-metadata-token-ttl-seconds is required"
            token = secrets.token_urlsafe(20)
            self.tokens.add(token)
            return 200, {}, token.encode()
        if request.header("X-aws-ec2-metadata-token") not in self.tokens:
            return 401, {}, b""
        prefix = "/latest/meta-data/iam/security-credentials/"
        if request.path == prefix:
            return 200, {}, self.ROLE.encode()
        if request.path == prefix + self.ROLE:
            answer = {"Code": "Success", "Type": "AWS-HMAC", **self.issued.issue("IMDS")}
            return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()
        return 404, {}, b""

    def credential_fetches(self):
        return [r for r in self.requests if r.path.endswith(self.ROLE) and r.status == 200]


class FakeContainerCredentials(Server):
    """EKS Pod Identity's agent: GET with the pod's token in Authorization."""

    def __init__(self, issued: KeyStore, valid_tokens=()):
        self.issued = issued
        self.valid_tokens = set(valid_tokens)
        super().__init__(self._handle)

    def _handle(self, request):
        if request.header("Authorization") not in self.valid_tokens:
            return 403, {}, b'{"Message": "invalid token"}'
        answer = self.issued.issue("POD")
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


class RecordingReceiver(Server):
    """Accepts everything (204), optionally over TLS; tests read the headers that arrived."""

    def __init__(self, tls: ssl.SSLContext = None):
        super().__init__(lambda request: (204, {}, b""), tls=tls)

    def header_values(self, name):
        return [r.header(name) for r in self.requests]


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
