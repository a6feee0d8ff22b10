"""Kubernetes pods on one node, as far as this host can make them: each pod is a network namespace
(`ip netns`, as root) with its own host name (a UTS namespace), the environment the kubelet and
our pod templates give a container (KUBERNETES_SERVICE_HOST, HOSTNAME, SPARKPROM_NODE_NAME), and
a relay from 127.0.0.1:<port> inside it to 127.0.0.1:<port> outside, where the real Prometheus
listens. Its `eth0` is a veth whose other end sits in a namespace of its own (`<pod>-wire`), so
traffic of a known size can cross it without touching the host's network: nothing leaves the
machine, and every address the sink and Spark use is 127.0.0.1."""
import ctypes
import os
import socket
import subprocess
import threading

from .relay import pump

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _enter(fd):
    """Moves the calling thread into the network namespace open at `fd`."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


class Pod:
    def __init__(self, name: str, node_name: str = None):
        self.name = name
        self.node_name = node_name
        self.netns = f"/var/run/netns/{name}"
        self._listeners = []

    @property
    def wire(self) -> str:
        return f"{self.name}-wire"

    def __enter__(self):
        for netns in (self.name, self.wire):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
            subprocess.run(["ip", "netns", "add", netns], check=True)
        subprocess.run(["ip", "link", "add", "eth0", "netns", self.name, "type", "veth",
                        "peer", "name", "eth0", "netns", self.wire], check=True)
        for netns, address in ((self.name, "10.1.0.1/30"), (self.wire, "10.1.0.2/30")):
            script = ("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && ip link set lo up && "
                      f"ip addr add {address} dev eth0 && ip link set eth0 up")
            subprocess.run(["ip", "netns", "exec", netns, "sh", "-c", script], check=True)
        return self

    def __exit__(self, *exc):
        for listener in self._listeners:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for netns in (self.name, self.wire):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)

    def env(self, base=None) -> dict:
        """The environment of a container in this pod."""
        env = dict(os.environ if base is None else base)
        env.update(KUBERNETES_SERVICE_HOST="10.96.0.1", KUBERNETES_SERVICE_PORT="443", HOSTNAME=self.name)
        if self.node_name:
            env["SPARKPROM_NODE_NAME"] = self.node_name
        else:
            env.pop("SPARKPROM_NODE_NAME", None)
        return env

    def prefix(self) -> list:
        """Runs a command in this pod: its network namespace, its host name."""
        return ["ip", "netns", "exec", self.name, "unshare", "--uts", "--",
                "sh", "-c", 'hostname "$0" && exec "$@"', self.name]

    def run(self, command, **kwargs):
        return subprocess.run(["ip", "netns", "exec", self.name, *command], **kwargs)

    def net_dev(self) -> dict:
        """{interface: (receive bytes, transmit bytes)} of this pod's /proc/net/dev, now (the
        same file the sink reads)."""
        text = self.run(["cat", "/proc/net/dev"], capture_output=True, text=True, check=True).stdout
        out = {}
        for line in text.splitlines()[2:]:
            device, fields = line.split(":", 1)
            fields = fields.split()
            out[device.strip()] = (int(fields[0]), int(fields[8]))
        return out

    def send(self, size: int):
        """A TCP stream of `size` bytes out of the pod's eth0, to the wire's end of it."""
        drain = ("import socket\n"
                 "s=socket.create_server(('10.1.0.2',5001));print('ready',flush=True)\n"
                 "c,_=s.accept()\n"
                 "while c.recv(65536): pass\n")
        receiver = subprocess.Popen(["ip", "netns", "exec", self.wire, "python3", "-c", drain],
                                    stdout=subprocess.PIPE, text=True)
        try:
            assert receiver.stdout.readline().strip() == "ready"
            send = (f"import socket\nc=socket.create_connection(('10.1.0.2',5001))\n"
                    f"c.sendall(b'x'*{size});c.close()\n")
            self.run(["python3", "-c", send], check=True, timeout=60)
            receiver.wait(timeout=60)
        finally:
            receiver.kill()

    def forward(self, port: int, target_port: int):
        """127.0.0.1:port inside the pod reaches 127.0.0.1:target_port outside it."""
        ready = threading.Event()

        def serve():
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            pod = os.open(self.netns, os.O_RDONLY)
            try:
                _enter(pod)
                listener = socket.create_server(("127.0.0.1", port))
                _enter(home)
            finally:
                os.close(home)
                os.close(pod)
            self._listeners.append(listener)
            ready.set()
            while True:
                try:
                    inside, _ = listener.accept()
                except OSError:
                    return
                outside = socket.create_connection(("127.0.0.1", target_port))
                for a, b in ((inside, outside), (outside, inside)):
                    threading.Thread(target=pump, args=(a, b), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError(f"no relay into pod {self.name}")
