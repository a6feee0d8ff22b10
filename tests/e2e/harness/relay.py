"""Copies a TCP connection's bytes to another: the relays the tests and benchmarks put between
the sinks and Prometheus (into a pod's namespace, or counting what the sinks send)."""
import socket


def pump(source, target, seen=None):
    """Copies what `source` receives to `target` until either side closes, then shuts both
    down; `seen(n)` is told the size of each chunk copied."""
    try:
        while data := source.recv(65536):
            if seen:
                seen(len(data))
            target.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
