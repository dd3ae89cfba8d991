"""Which failures are retried: lost connections, timeouts, 5xx and throttling are; a missing file,
a refusal or missing credentials never are. The exceptions are the libraries' own."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging

import botocore.exceptions as boto
import pytest

from mlxkit.store.remotes.failures import classify, quiet_orphaned_connection_errors, reason, unreachable_endpoint


def client_error(code: str, status: int, message: str = "") -> boto.ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return boto.ClientError(response, "GetObject")  # type: ignore[arg-type]


def translated(error: boto.ClientError, exc: OSError) -> OSError:
    """What s3fs raises: an OSError whose cause is botocore's error."""
    exc.__cause__ = error
    return exc


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "transient"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "transient"),
        (TimeoutError("timed out"), "transient"),
        (boto.EndpointConnectionError(endpoint_url="http://127.0.0.1:9/b/k"), "transient"),
        (boto.ReadTimeoutError(endpoint_url="http://127.0.0.1:9/b/k"), "transient"),
        (boto.ConnectionClosedError(endpoint_url="http://127.0.0.1:9/b/k"), "transient"),
        (client_error("SlowDown", 503), "transient"),
        (client_error("InternalError", 500), "transient"),
        (translated(client_error("ServiceUnavailable", 503), OSError(errno.EIO, "unavailable")), "transient"),
        (client_error("Throttling", 400), "transient"),
        (FileNotFoundError(errno.ENOENT, "no such file"), "missing"),
        (client_error("NoSuchKey", 404), "missing"),
        (translated(client_error("NoSuchBucket", 404), FileNotFoundError("The specified bucket does not exist")), "bucket"),
        (PermissionError(errno.EACCES, "Permission denied"), "denied"),
        (client_error("InvalidAccessKeyId", 403), "denied"),
        (boto.NoCredentialsError(), "credentials"),
        (boto.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), "credentials"),
        (client_error("InvalidRange", 416), "failed"),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), "failed"),
        (TypeError("a bug"), None),
        (KeyError("a bug"), None),
    ],
)
def test_each_failure_is_classified(exc, kind):
    assert classify(exc) == kind


def test_the_endpoint_is_named_without_path_or_query():
    exc = boto.EndpointConnectionError(endpoint_url="http://127.0.0.1:5999/bucket?list-type=2&prefix=x")

    assert unreachable_endpoint(exc) == "http://127.0.0.1:5999"
    assert unreachable_endpoint(ConnectionRefusedError()) is None


def test_reasons_are_one_lowercase_line():
    assert reason(client_error("AccessDenied", 403, "Access Denied")) == "access Denied"
    assert reason(PermissionError(errno.EACCES, "Permission denied", "/x")) == "permission denied"
    assert reason(ValueError("first line\n  second line")) == "first line second line"


def orphan_a_failed_task(loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
    """What aiohttp's body writer leaves behind when the server drops the connection: a finished task
    whose exception nobody awaits; asyncio reports it when the task is collected."""

    async def fail() -> None:
        raise exc

    async def leave_behind() -> None:
        task = loop.create_task(fail())
        await asyncio.sleep(0)
        del task

    loop.run_until_complete(leave_behind())
    gc.collect()


@pytest.mark.parametrize("quieted", [False, True])
def test_a_lost_connections_orphaned_task_is_not_reported_on_stderr(quieted, caplog):
    loop = asyncio.new_event_loop()
    try:
        if quieted:
            quiet_orphaned_connection_errors(loop)
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            orphan_a_failed_task(loop, ConnectionResetError("Cannot write to closing transport"))
            orphan_a_failed_task(loop, ValueError("a bug"))
    finally:
        loop.close()
    reported = [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    assert reported == (["a bug"] if quieted else ["Cannot write to closing transport", "a bug"])
