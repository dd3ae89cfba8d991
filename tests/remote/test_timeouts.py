"""An S3 endpoint that accepts connections and never answers: a command gives up after the remote's
`timeout` and one retry, saying so on stderr as it retries, instead of stalling for minutes in
silence. The run has a subprocess timeout, so a regression fails the test instead of hanging it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import Repo, run_subprocess


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """http://127.0.0.1:PORT of a server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed: the test is over
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in held:
        connection.close()


def test_a_remote_that_never_answers_fails_after_its_timeout_saying_so(repo: Repo, mlx, silent_endpoint, s3_env):
    assert mlx("remote", "add", "--default", "origin", "s3://bucket/project").code == 0
    assert mlx("remote", "modify", "origin", "endpoint_url", silent_endpoint).code == 0
    assert mlx("remote", "modify", "origin", "timeout", "1").code == 0

    result = run_subprocess(("fetch",), repo.path, timeout=60)  # 5 tries of 60 s each before

    assert result.err_lines == [
        "warning: remote 'origin' did not answer in 1 s; retrying (2 of 2)",
        "mlx: cannot read 'mlx-store.json' on remote 'origin' (s3://bucket/project): no answer in 1 s, after 2 tries",
        "hint: check the endpoint; a slow one may get more time: 'mlx remote modify origin timeout SECONDS'",
    ], result
    assert result.code == 22
