"""Remotes for tests: a real S3 endpoint (moto's server, in a subprocess on loopback, as s3fs's own
tests do) and a local directory, behind one parametrized fixture, so that every remote test runs
against both (the contract suite: tests/remote/).

- `s3_server` (session scoped, so one per xdist worker): a running moto server, `.endpoint`.
- `s3_env`: AWS_* variables for the clients (key and secret "testing", a region, no instance
  metadata lookups); any AWS_* variable of the developer's shell is removed first.
- `s3_bucket`: a fresh, empty bucket for this test.
- `remote_url`: a `RemoteSpec` parametrized over "local" (a directory) and "s3"
  (`s3://<fresh bucket>/prefix`, with the endpoint in its options); `.open()` opens it.
- `start_s3_server(log_dir)`: a server of the test's own, for a test that kills it.
- `make_proxy(fails)`: a `FaultyProxy` on loopback in front of `s3_server` that records every
  request and answers "503 SlowDown" to those `fails(method, query)` picks (default: none), or
  holds one silent when `fails` returns a `Stall` instead of True (`Stall(answered=N, seconds=0)`
  drops the connection after N bytes of the answer); with `small_buffers=True`, its connections
  buffer only a few kB of a request body it does not read.
- `named_index(document)`: an index file (hostile or not) under its correct name.
- `s3_origin(repo, mlx, bucket, endpoint)`: that bucket at that endpoint, as `repo`'s `origin`.
- `configure(mlx, where, remote_url)`: a `RemoteSpec` as the default remote `origin` of the
  repository at `where`; `push_directory(...)`: files committed and pushed there;
  `remote_files(remote_url)`: what the remote holds; `overwrite_remote_file(...)`: one file of it
  replaced (the helpers of tests/remote/test_transfer.py that other modules use).
- `through_proxy`, `run_timed`, `gave_up`: a remote behind a proxy with a timeout of 1 s, a command
  run with a timeout of its own, and the one-line failure after a stall (tests/remote/test_stalls.py
  and test_stalled_writes.py).

Registered as a plugin by tests/conftest.py, so tests anywhere may use these fixtures.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from blake3 import blake3

from mlxkit.store.remotes.fs import RemoteFS, RetryPolicy
from mlxkit.store.remotes.location import open_remote
from tests.conftest import Repo, run_subprocess

REGION = "us-east-1"
# Retries in tests: as many tries as in use, with waits too short to slow the suite.
FAST_RETRY = RetryPolicy(tries=3, first_delay=0.01)


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    endpoint: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_s3_server(log_dir: Path, port: int | None = None) -> S3Server:
    """Start moto's S3 server on `port` (or a free loopback port) and wait until it answers."""
    for _ in range(3):  # a free port may be taken between choosing it and the server binding it
        chosen = port or free_port()
        log = log_dir / f"moto-{chosen}.log"
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(chosen)],
                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            )
        server = S3Server(process, f"http://127.0.0.1:{chosen}", log)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(server.endpoint, timeout=2):
                    return server
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        server.stop()
    raise RuntimeError(f"moto's server did not start: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def boto3_client(endpoint: str):
    """A boto3 S3 client of `endpoint`, to look at a bucket as another client would."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def s3_origin(repo, mlx, bucket: str, endpoint: str, **settings: str) -> None:
    """Make `s3://bucket/p` at `endpoint` (moto's server, or a proxy in front of it) the default
    remote `origin` of `repo`, with these remote settings (`timeout="1"`)."""
    for args in (
        ("remote", "add", "--default", "origin", f"s3://{bucket}/p"),
        ("remote", "modify", "origin", "endpoint_url", endpoint),
        *(("remote", "modify", "origin", key, value) for key, value in settings.items()),
    ):
        assert mlx(*args, cwd=repo.path).code == 0


def configure(mlx, where: Path, remote_url) -> None:
    assert mlx("remote", "add", "--default", "origin", remote_url.url, cwd=where).code == 0
    if remote_url.endpoint_url:
        assert mlx("remote", "modify", "origin", "endpoint_url", remote_url.endpoint_url, cwd=where).code == 0


def push_directory(repo: Repo, mlx, remote_url, files: dict[str, str]) -> Repo:
    """`files` as the tracked directory `data`, committed and pushed to `origin`."""
    repo.gen({"data": files}, old=True)
    assert mlx("add", "data").code == 0
    configure(mlx, repo.path, remote_url)
    repo.commit("data")
    assert mlx("push").code == 0
    return repo


def remote_files(remote_url) -> dict[str, int]:
    fs = remote_url.open()
    return {f"{prefix}/{name}": size for prefix in ("objects", "packs", "index") for name, size in fs.list(prefix).items()}


def overwrite_remote_file(remote_url, path: str, data: bytes) -> None:
    """Write `data` at `path` of the remote (a directory or S3) behind mlx's back, over any file there."""
    if remote_url.kind == "local":
        target = Path(remote_url.url) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.chmod(target, 0o644)
        target.write_bytes(data)
        return
    import s3fs

    fs = s3fs.S3FileSystem(key="testing", secret="testing", client_kwargs={"endpoint_url": remote_url.endpoint_url},
                           skip_instance_cache=True)
    fs.pipe(f"{remote_url.url.removeprefix('s3://')}/{path}", data)


RUN_TIMEOUT = 30  # seconds for one command: a stall costs it at most two timeouts of 1 s
HINT = "hint: check the endpoint; a slow one may get more time: 'mlx remote modify origin timeout SECONDS'"


def through_proxy(proxy, repo: Repo, mlx, bucket: str) -> None:
    """`origin` is the bucket, reached through `proxy`, with a timeout of 1 s."""
    s3_origin(repo, mlx, bucket, proxy.endpoint, timeout="1")


def run_timed(repo: Repo, *args: str):
    return run_subprocess(args, repo.path, timeout=RUN_TIMEOUT)


def gave_up(result, verb: str, where: str, bucket: str) -> None:
    """`result` is a command that retried once, then failed in one line naming `verb` and `where` (a regex)."""
    assert "Traceback" not in result.err, result
    assert result.code == 22, result
    assert result.err_lines[0] == "warning: remote 'origin' did not answer in 1 s; retrying (2 of 2)", result
    assert re.fullmatch(
        rf"mlx: cannot {verb} '{where}' on remote 'origin' \(s3://{bucket}/p\): no answer in 1 s, after 2 tries",
        result.err_lines[1],
    ), result
    assert result.err_lines[2:] == [HINT], result


def create_bucket(endpoint: str) -> str:
    import s3fs

    bucket = f"mlx-test-{uuid.uuid4().hex[:16]}"
    client = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": endpoint},
        skip_instance_cache=True,
    )
    client.mkdir(bucket)
    return bucket


@pytest.fixture
def s3_bucket(s3_server: S3Server, s3_env: None) -> str:
    return create_bucket(s3_server.endpoint)


@dataclass(frozen=True)
class RemoteSpec:
    """Where a test's remote lives: `url`, and for S3 the endpoint that config or options name."""

    kind: str  # "local" or "s3"
    url: str
    endpoint_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        """fsspec storage options, as repo/remotes.py builds them from a remote's configuration."""
        if self.endpoint_url is None:
            return dict(self.extra)
        return {"client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": REGION}, **self.extra}

    def open(self, name: str = "origin", *, jobs: int | None = None, retry: RetryPolicy = FAST_RETRY) -> RemoteFS:
        return open_remote(name, self.url, self.options, jobs, retry=retry)


@pytest.fixture(params=["local", "s3"])
def remote_url(request: pytest.FixtureRequest, tmp_path: Path) -> RemoteSpec:
    if request.param == "local":
        return RemoteSpec("local", str(tmp_path / "remote"))
    server = request.getfixturevalue("s3_server")
    request.getfixturevalue("s3_env")
    return RemoteSpec("s3", f"s3://{create_bucket(server.endpoint)}/some/prefix", server.endpoint)


@dataclass(frozen=True)
class Stall:
    """What a proxy's `fails` returns to make a request stall instead of failing. The proxy reads the
    request's first `received` bytes of body (all of them when None) and answers nothing; or, with
    `answered`, it forwards the whole request and sends the answer's status, headers and first
    `answered` bytes of body (an answer no longer than that is sent whole, and not held). Then it
    sends nothing for `seconds` (None: until the proxy is closed, at the end of the test) and drops
    the connection. `FaultyProxy.stalled` counts the requests so held."""

    seconds: float | None = None
    received: int | None = None
    answered: int | None = None


Fails = Callable[[str, dict[str, list[str]]], "bool | Stall"]


class FaultyProxy:
    """Forwards HTTP requests to `target` and records each as (method, path, query), and its Range
    header (None without one) at the same index in `ranges`; `fails(method, query)` picks the ones
    answered 503 (True) or held silent (a `Stall`).

    Over loopback, a client sends megabytes of a body that the proxy no longer reads before it has
    to wait (the kernel's autotuned buffers): a `Stall(received=N)` of a smaller body holds only the
    answer. With `small_buffers`, the proxy's connections buffer a few kB and the client about
    140 kB more (its kernel's and aiohttp's buffers), so a body of 200 kB already stalls before it is
    all sent, as a larger one does with any server."""

    def __init__(self, target: str, fails: Fails, *, small_buffers: bool = False) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.ranges: list[str | None] = []
        self.closing = threading.Event()  # set by close(): a stall "until the test ends" ends
        self.stalled = 0  # requests held silent before their answer was complete
        upstream_url = urlsplit(target)
        host, port = upstream_url.hostname, upstream_url.port
        proxy, lock = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query, keep_blank_values=True)
                with lock:
                    proxy.requests.append((self.command, url.path, query))
                    proxy.ranges.append(self.headers.get("Range"))
                    fault = fails(self.command, query)
                stall = fault if isinstance(fault, Stall) else None
                size = int(self.headers.get("Content-Length") or 0)
                if stall is not None and stall.answered is None and stall.received is not None:
                    size = min(size, stall.received)
                body = self.rfile.read(size)
                if stall is None and fault:
                    self._answer(503, [("Content-Type", "application/xml")],
                                 b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
                elif stall is not None and stall.answered is None:
                    self._stall(stall)
                else:
                    self._forward(body, stall)

            def _forward(self, body: bytes, stall: Stall | None) -> None:
                upstream = http.client.HTTPConnection(host, port, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() not in ("expect", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                kept = [(key, value) for key, value in answer.getheaders()
                        if key.lower() not in ("transfer-encoding", "connection", "content-length")]
                upstream.close()
                # A HEAD's answer has no body, and its Content-Length is the object's size.
                length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                if stall is None or len(data) <= stall.answered:
                    self._answer(answer.status, kept, data, length)
                else:
                    self._answer(answer.status, kept, data[: stall.answered], str(len(data)))
                    self._stall(stall)

            def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes, length: str | None = None) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", length or str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            def _stall(self, stall: Stall) -> None:
                with lock:
                    proxy.stalled += 1
                proxy.closing.wait(stall.seconds)
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        if small_buffers:
            _small_buffers(self._server.socket)
        self._server.server_bind()
        self._server.server_activate()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def parts_sent(self, number: int) -> int:
        return sum(1 for method, _, query in self.requests if method == "PUT" and query.get("partNumber") == [str(number)])

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()


def _small_buffers(listening: socket.socket) -> None:
    """Connections accepted on `listening` hold a few kB that the proxy has not read: a receive
    buffer of 4 kB (set before they exist, so that their window is small and never autotuned) and
    segments of 1,400 bytes, as on Ethernet rather than loopback's 64 kB (the client sizes its send
    buffer in segments)."""
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)


@pytest.fixture
def make_proxy(s3_server: S3Server) -> Iterator[Callable[..., FaultyProxy]]:
    proxies: list[FaultyProxy] = []

    def make(fails: Fails = lambda method, query: False, *, small_buffers: bool = False) -> FaultyProxy:
        proxies.append(FaultyProxy(s3_server.endpoint, fails, small_buffers=small_buffers))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


def named_index(document: object, *, compressed: bool = False) -> tuple[str, bytes]:
    """An index file under its correct name, so that a reader's checks after the name's are reached."""
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    data = gzip.compress(raw, mtime=0) if compressed else raw
    return f"{blake3(data).hexdigest()}.json{'.gz' if compressed else ''}", data
