"""What a remote's failure means: whether to retry it, and how to say it in one line.

Exceptions come from the OS (a local remote), from fsspec implementations (mostly OSError), and
from s3fs and botocore (a ClientError, often translated by s3fs into an OSError whose cause it
is). botocore is looked up in sys.modules, never imported: if it is not loaded, none of its
exceptions can have been raised.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

_THROTTLED = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout",
    "TooManyRequestsException", "ServiceUnavailable", "InternalError",
})
_DENIED = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "AllAccessDisabled"})


def missing_package(exc: ImportError, protocol: str) -> str:
    """The module whose absence fsspec reported (its registry wraps the ModuleNotFoundError)."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        if isinstance(candidate, ImportError) and candidate.name:
            return candidate.name.split(".")[0]
    return protocol


def classify(exc: BaseException) -> str | None:
    """'missing', 'bucket', 'denied', 'credentials', 'transient' or 'failed'; None for an
    exception that is not a remote's failure (a bug, which is re-raised as is)."""
    code, status = _client_error(exc)
    if code == "NoSuchBucket":
        return "bucket"
    if isinstance(exc, FileNotFoundError) or code == "NoSuchKey":
        return "missing"
    if isinstance(exc, PermissionError) or code in _DENIED:
        return "denied"
    if code is not None and (code in _THROTTLED or (status or 0) >= 500):
        return "transient"
    botocore = sys.modules.get("botocore.exceptions")  # loaded by s3fs; never imported here
    if botocore is not None and isinstance(exc, botocore.BotoCoreError):
        if isinstance(exc, (botocore.NoCredentialsError, botocore.PartialCredentialsError)):
            return "credentials"
        transient = (botocore.ConnectionError, botocore.HTTPClientError, botocore.IncompleteReadError)
        return "transient" if isinstance(exc, transient) else "failed"
    if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__module__.startswith("aiohttp"):
        return "transient"
    if isinstance(exc, OSError) or code is not None:
        return "failed"
    return None


def is_timeout(exc: BaseException) -> bool:
    """Whether the remote did not answer in time (to connect, or with the next bytes of an answer),
    as opposed to refusing or dropping the connection: each try of such a request costs the whole
    timeout, so it is retried fewer times."""
    botocore = sys.modules.get("botocore.exceptions")
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, TimeoutError):  # asyncio's too, and aiohttp's timeouts
            return True
        if botocore is not None and isinstance(candidate, (botocore.ReadTimeoutError, botocore.ConnectTimeoutError)):
            return True
    return False


def retry_cause(exc: BaseException) -> str:
    """Why a transient failure (not a timeout) is tried again, in a few words: the server's answer
    ("answered 503 SlowDown"), or what happened to the connection."""
    code, status = _client_error(exc)
    if code is not None:
        return f"answered {f'{status} ' if status else ''}{code}"
    if unreachable_endpoint(exc) is not None or isinstance(exc, ConnectionRefusedError):
        return "could not be reached"
    return "dropped the connection"


def _client_error(exc: BaseException) -> tuple[str | None, int | None]:
    """The error code and HTTP status of a botocore ClientError, raised or behind s3fs's OSError."""
    for candidate in (exc, exc.__cause__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            error, meta = response.get("Error") or {}, response.get("ResponseMetadata") or {}
            return error.get("Code"), meta.get("HTTPStatusCode")
    return None, None


def unreachable_endpoint(exc: BaseException) -> str | None:
    """`scheme://host:port` of an endpoint botocore could not connect to."""
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is None or not isinstance(exc, botocore.ConnectionError):
        return None
    parts = urlsplit(str(getattr(exc, "kwargs", {}).get("endpoint_url", "")))
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname else None


def reason(exc: BaseException) -> str:
    """What went wrong, in one line."""
    response = getattr(exc.__cause__, "response", None) or getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        text = error.get("Message") or error.get("Code") or str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(str(text).split()).rstrip(".")  # no full stop: the message goes on after it
    return (text[:1].lower() + text[1:])[:300]


def quiet_orphaned_connection_errors(loop: Any) -> None:
    """aiohttp sends a request's body from a task of its own. When the server drops the connection,
    that task's error can outlive the request, whose own failure mlx retries and reports in one line;
    asyncio would then print "Task exception was never retrieved" and a traceback on stderr before
    that line (aiohttp issue 6978). Such reports are dropped on `loop`, the one s3fs runs on; every
    other report goes to asyncio's default handler."""

    def handle(loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is not None and "never retrieved" in context.get("message", "") and classify(exc) == "transient":
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
