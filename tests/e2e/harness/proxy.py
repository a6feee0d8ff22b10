"""A forward proxy on 127.0.0.1 that writes down each request line it gets: CONNECT host:port
(the https way: a tunnel it then relays blindly) and absolute-form requests (`POST http://...`,
the plain http way: forwarded as one request, the answer relayed back)."""
import socket
import socketserver
import threading


def _relay(a, b):
    """Copies both ways until either side closes."""
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(timeout=5)


class RecordingProxy:
    def __init__(self):
        self.lines = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                client = self.request
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                head, _, rest = head.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                proxy.lines.append(f"{method} {target}")
                if method == "CONNECT":
                    host, port = target.rsplit(":", 1)
                    upstream = socket.create_connection((host, int(port)), timeout=10)
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    if rest:
                        upstream.sendall(rest)
                    _relay(client, upstream)
                    return
                # http://host:port/path -> /path, to host:port; one request, then close.
                address, _, path = target.partition("://")[2].partition("/")
                host, _, port = address.partition(":")
                headers = [h for h in lines[1:] if not h.lower().startswith(("connection:", "proxy-"))]
                upstream = socket.create_connection((host, int(port or 80)), timeout=10)
                upstream.sendall("\r\n".join([f"{method} /{path} {version}", *headers, "Connection: close", "", ""])
                                 .encode("latin-1") + rest)
                _relay(client, upstream)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
