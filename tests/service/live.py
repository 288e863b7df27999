"""A real `tagsim serve` (Granian, two workers) on a free loopback port, for the tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from service.client import ApiError, TagsimClient


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`tagsim serve --home HOME [ARGS]` in its own process group; *env* adds variables."""

    def __init__(self, home, args=(), workers=2, env=None):
        self.home, self.env, self.proc, self.port, self.log = home, env or {}, None, None, None
        self.args, self.workers = list(args), workers

    @property
    def log_path(self):
        return Path(self.home).parent / f"server-{self.port}.log"

    def start(self):
        self.port = free_port()
        self.log = open(self.log_path, "ab")  # an unread pipe would fill
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "training.cli", "serve", "--home", str(self.home),
             "--port", str(self.port), "--workers", str(self.workers), *self.args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        client = self.client(timeout=1.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text())
            try:
                client._call("GET", "/readyz")
                return self
            except ApiError:
                time.sleep(0.2)
        raise RuntimeError("server did not become ready in 60 s")

    def client(self, timeout=10.0):
        return TagsimClient(f"http://127.0.0.1:{self.port}", timeout=timeout)

    def connect(self, timeout=10.0):
        """A raw socket to the server."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log:
            self.log.close()


def read_answer(sock):
    """The bytes of one answer: up to its Content-Length, or until the server closes."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
        while out.startswith(b"HTTP/1.1 100 ") and b"\r\n\r\n" in out:
            out = out.partition(b"\r\n\r\n")[2]  # informational answers come first
        head, sep, body = out.partition(b"\r\n\r\n")
        length = [line.split(b":")[1] for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:")]
        if sep and length and len(body) >= int(length[0]):
            break
    return out
