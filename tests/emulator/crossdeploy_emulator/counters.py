"""A record of every AWS request the emulator served, for ``/_crossdeploy/calls`` and
``/_crossdeploy/counters``.

Two cooperating pieces, both in the request's own thread (moto's server is threaded,
one thread per request):

- ``RecordingMiddleware`` (WSGI, outermost) opens a record for each AWS request, lets
  moto handle it, then sets the outcome from the HTTP status and the error code in the
  response (``__type`` / ``x-amzn-ErrorType`` / ``<Code>``; for bodiless HEAD errors the
  status: 403 -> AccessDenied, 404 -> NotFound);
- ``install()`` wraps moto's ``ActionAuthenticatorMixin._authenticate_and_authorize_action``,
  the one place every service passes through with the request already parsed, to fill
  in service, operation, caller account and principal, and a *whitelist* of parameters;
  then it calls the request listeners (``add_request_listener``: ``faults``).

A call whose answer was injected by ``faults`` carries ``"injected": true`` and the
injected error code as outcome; injected latency is ``"injectedLatencySeconds"``. A
caller whose SDK user agent names an application (``app/<id>``, e.g. from
``AWS_SDK_UA_APP_ID``) gets ``"userAgentApp": "<id>"``: two replicas of the operator
share one identity, and this tells them apart.

Records are kept as interned tuples (a few hundred bytes each) and capped at
``MAX_RECORDS`` (``CROSSDEPLOY_EMULATOR_MAX_CALL_RECORDS``, default 200,000; the
oldest go first and are counted in ``stats``); ``since`` queries skip to their
sequence number instead of scanning everything.

Secrets never enter a record: for ``sts:AssumeRole`` only RoleArn, RoleSessionName and
DurationSeconds are kept (never ExternalId, Policy or tokens); signatures, access keys
and session tokens are never read into it.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import json
import os
import re
import sys
import threading
import time
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qs

from . import CONTROL_PREFIX, identity

# Records kept (oldest dropped first); ``/_crossdeploy/stats`` says how many were dropped.
MAX_RECORDS = int(os.environ.get("CROSSDEPLOY_EMULATOR_MAX_CALL_RECORDS", "200000"))

# Parameters kept per service (request parameter names as the service spells them).
_PARAM_WHITELIST = {
    "sts": ("RoleArn", "RoleSessionName", "DurationSeconds"),
    "codedeploy": (
        "applicationName",
        "deploymentGroupName",
        "deploymentId",
        "deploymentIds",
        "deploymentConfigName",
        "description",
        "includeOnlyStatuses",
        "autoRollbackEnabled",
        # CreateDeployment options, so tests can see they reached the emulator
        "autoRollbackConfiguration",
        "fileExistsBehavior",
        "overrideAlarmConfiguration",
        "updateOutdatedInstancesOnly",
        "targetInstances",
        # ContinueDeployment, ListDeploymentTargets, BatchGetDeploymentTargets
        "deploymentWaitType",
        "targetFilters",
        "targetIds",
    ),
    "iam": ("UserName", "RoleName", "PolicyArn"),
}
_NEVER = {"ExternalId", "Policy", "SecretAccessKey", "SessionToken", "TokenCode", "SerialNumber"}

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")
# The application id SDKs put in their user agent (``app/<id>``; the Rust SDK and
# botocore take it from AWS_SDK_UA_APP_ID), so that callers sharing one identity can
# still be told apart.
_APP_ID = re.compile(r"(?:^|\s)app/([^\s]+)")

# A kept record is a tuple (compact: at 10,000 objects the operator makes ~100,000
# calls): seq, epoch seconds, then these fields (strings interned), then ``extra``
# (a dict of the rarer keys, or None).
_FIELDS = ("service", "operation", "account", "principal", "outcome", "httpStatus",
           "params", "userAgentApp")
_SEQ, _EPOCH, _FIRST = 0, 1, 2
_INDEX = {name: _FIRST + i for i, name in enumerate(_FIELDS)}
_EXTRA = _FIRST + len(_FIELDS)
_FILTERS = ("service", "operation", "account", "outcome", "userAgentApp")


def _intern(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


def _compact(record: dict) -> tuple:
    extra = {k: v for k, v in record.items() if k not in _FIELDS and k not in ("seq", "time")}
    return (record["seq"], record["time"],
            *(_intern(record.get(name)) for name in _FIELDS[:5]),
            record.get("httpStatus"), record.get("params") or None,
            _intern(record.get("userAgentApp")), extra or None)


def _expand(row: tuple) -> dict:
    epoch = row[_EPOCH]
    record: dict[str, Any] = {
        "seq": row[_SEQ],
        "time": dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds"),
        "epoch": epoch,
    }
    for name in _FIELDS:
        record[name] = row[_INDEX[name]]
    record["params"] = dict(record["params"] or {})
    if record["userAgentApp"] is None:
        del record["userAgentApp"]
    if row[_EXTRA]:
        record.update(row[_EXTRA])
    return record


class CallLog:
    """Thread-safe, append-only (until reset) log of call records, kept compact and
    capped at MAX_RECORDS (the oldest are dropped and counted)."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._lock = threading.Lock()
        self._records: collections.deque = collections.deque()
        self._seq = 0
        self._dropped = 0
        self.max_records = max_records

    def append(self, record: dict) -> None:
        with self._lock:
            self._seq += 1
            record["seq"] = self._seq
            self._records.append(_compact(record))
            while len(self._records) > self.max_records:
                self._records.popleft()
                self._dropped += 1

    def reset(self) -> int:
        with self._lock:
            dropped = len(self._records)
            self._records.clear()
            return dropped

    def _rows(
        self,
        service: Optional[str] = None,
        operation: Optional[str] = None,
        principal_contains: Optional[str] = None,
        account: Optional[str] = None,
        outcome: Optional[str] = None,
        since: Optional[int] = None,
        app: Optional[str] = None,
    ) -> Iterable[tuple]:
        with self._lock:
            rows = list(self._records)
        if since is not None:
            rows = rows[bisect.bisect_right(rows, since, key=lambda r: r[_SEQ]):]
        wanted = [(_INDEX[name], value) for name, value in zip(
            _FILTERS, (service, operation, account, outcome, app)) if value]
        principal_at = _INDEX["principal"]
        for row in rows:
            if any(row[i] != value for i, value in wanted):
                continue
            if principal_contains and principal_contains not in (row[principal_at] or ""):
                continue
            yield row

    def query(self, **filters: Any) -> list[dict]:
        return [_expand(row) for row in self._rows(**filters)]

    def counters(self, **filters: Any) -> dict[str, int]:
        counts: dict[str, int] = {}
        service_at, operation_at = _INDEX["service"], _INDEX["operation"]
        for row in self._rows(**filters):
            key = f"{row[service_at]}:{row[operation_at]}"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def stats(self) -> dict:
        with self._lock:
            return {"lastSeq": self._seq, "kept": len(self._records),
                    "dropped": self._dropped, "maxRecords": self.max_records}

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq


CALLS = CallLog()

_current = threading.local()


# --------------------------------------------------------------------------- moto hook


def _whitelisted_params(response: Any, service: str) -> dict:
    keep = _PARAM_WHITELIST.get(service, ())
    params: dict[str, Any] = {}
    sources = []
    parsed = getattr(response, "params", None)
    if isinstance(parsed, dict):
        sources.append(parsed)
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        sources.append(data)
    for name in keep:
        if name in _NEVER:
            continue
        for source in sources:
            if name in source:
                value = source[name]
                if isinstance(value, list) and len(value) == 1 and service != "codedeploy":
                    value = value[0]
                params[name] = value
                break
    return params


def _s3_operation(method: str, has_key: bool, query: dict, iam_action: str) -> str:
    """API operation name of an S3 request (moto only knows the IAM action)."""
    if has_key:
        if method == "HEAD":
            return "HeadObject"
        if method == "GET" and iam_action in ("GetObject", "GetObjectVersion"):
            return "GetObject"
        if method == "DELETE" and iam_action in ("DeleteObject", "DeleteObjectVersion"):
            return "DeleteObject"
        return iam_action
    if method == "HEAD":
        return "HeadBucket"
    if method == "GET" and iam_action == "ListBucket":
        return "ListObjectsV2" if "list-type" in query else "ListObjects"
    if iam_action == "ListBucketVersions":
        return "ListObjectVersions"
    return iam_action


def _annotate(response: Any, resource: str) -> None:
    record = getattr(_current, "record", None)
    if record is None:
        return
    service = getattr(response, "service_name", None) or record.get("service")
    action = response._get_action()
    if isinstance(action, list):
        action = action[0]
    operation = action
    params = {}
    if service == "s3":
        arn_tail = resource.split(":::", 1)[-1] if resource else ""
        bucket, _, key = arn_tail.partition("/")
        query = getattr(response, "querystring", {}) or {}
        operation = _s3_operation(response.method, bool(key), query, action)
        if bucket and bucket != "*":
            params["Bucket"] = bucket
        if key:
            params["Key"] = key
        for query_key, param in (("versionId", "VersionId"), ("prefix", "Prefix")):
            value = query.get(query_key)
            if value:
                params[param] = value[0] if isinstance(value, list) else value
    else:
        params = _whitelisted_params(response, service)
    caller = identity.caller_of_response(response)
    _current.access_key_id = identity.access_key_from_authorization(
        response.headers.get("Authorization"))
    record.update(
        service=service,
        operation=operation,
        account=getattr(response, "current_account", None),
        principal=caller.arn if caller else None,
        params=params,
    )


def current_record() -> Optional[dict]:
    """The record of the request this thread is serving (None outside a request)."""
    return getattr(_current, "record", None)


def current_access_key_id() -> Optional[str]:
    """The access key id that signed the request this thread is serving (never
    recorded; ``faults`` matches rules for existing sessions on it)."""
    return getattr(_current, "access_key_id", None)


# Called with the annotated record of every AWS request, before moto authorizes it.
# A listener may raise to end the request there (faults does, to inject an error).
_request_listeners: list[Callable[[dict], None]] = []


def add_request_listener(listener: Callable[[dict], None]) -> None:
    if listener not in _request_listeners:
        _request_listeners.append(listener)


_installed = False


def install() -> None:
    """Wrap moto's authorization entry point to annotate the current record."""
    global _installed
    if _installed:
        return
    from moto.core.authorization import ActionAuthenticatorMixin

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        try:
            _annotate(self, resource)
        except Exception:  # bookkeeping must never change a response
            pass
        record = current_record()
        if record is not None:
            for listener in _request_listeners:
                listener(record)
        return original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action
    _installed = True


# --------------------------------------------------------------------------- middleware


def _error_code(status: int, headers: list, body: bytes) -> str:
    for name, value in headers:
        if name.lower() == "x-amzn-errortype" and value:
            return value.split(":", 1)[0].split("#")[-1]
    if body:
        stripped = body.lstrip()
        if stripped.startswith(b"{"):
            try:
                doc = json.loads(stripped)
                code = doc.get("__type") or doc.get("code") or doc.get("Code")
                if code:
                    return str(code).split("#")[-1]
            except ValueError:
                pass
        match = _XML_CODE.search(body)
        if match:
            return match.group(1).decode("utf-8", "replace")
    return {400: "BadRequest", 403: "AccessDenied", 404: "NotFound"}.get(status, f"HTTP{status}")


def _fallback_operation(environ: dict) -> Optional[str]:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else None


# awsQuery services: their SDK error parsers read ErrorResponse/Error/Code.
QUERY_PROTOCOL_SERVICES = {"sts", "iam"}


def _query_protocol_error(body: bytes, headers: list) -> tuple[bytes, list]:
    """moto renders IAM/auth denials as ``<ErrorResponse><Errors><Error>`` (the EC2
    shape) for every service. awsQuery services (STS, IAM) answer
    ``<ErrorResponse><Error>...</Error><RequestId/></ErrorResponse>``, and the Rust SDK
    finds no error code in moto's shape, so a denied AssumeRole would be unclassifiable.
    Unwrap ``<Errors>`` and mark the body as XML."""
    if b"<Errors><Error>" not in body:
        return body, headers
    body = body.replace(b"<Errors><Error>", b"<Error>").replace(b"</Error></Errors>", b"</Error>")
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
    kept += [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    return body, kept


class RecordingMiddleware:
    """Outermost WSGI layer: routes /_crossdeploy to the control API, refuses
    /moto-api, and keeps one record per AWS request."""

    def __init__(self, app: Callable, control_app: Callable):
        self.app = app
        self.control_app = control_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.control_app(environ, start_response)
        if path.startswith("/moto-api"):
            # moto's own API can reset every backend (erasing the seeded world) or turn
            # IAM enforcement off (/moto-api/reset-auth): not available here.
            body = b'{"error": "moto-api is disabled in the crossdeploy emulator"}'
            start_response("404 Not Found", [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body)))])
            return [body]

        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "") or "")
        record: dict = {
            "time": time.time(),  # epoch seconds; served as ISO 8601 ("time") and "epoch"
            "service": scope.group(2) if scope else None,
            "operation": _fallback_operation(environ),
            "account": None,
            "principal": None,
            "outcome": None,
            "httpStatus": None,
            "params": {},
        }
        app_id = _APP_ID.search(environ.get("HTTP_USER_AGENT", "") or "") or _APP_ID.search(
            environ.get("HTTP_X_AMZ_USER_AGENT", "") or "")
        if app_id:
            record["userAgentApp"] = app_id.group(1)
        _current.record = record
        captured: dict = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            # Deferred: an error body may need rewriting (see _query_protocol_error).
            captured.update(status_line=status, status=int(status.split(" ", 1)[0]),
                            headers=headers, exc_info=exc_info)
            return lambda _data: None

        try:
            result = self.app(environ, capture)
            status = captured.get("status", 500)
            headers = captured.get("headers", [])
            if record.get("injected"):
                pass  # faults.FaultMiddleware set the outcome: the injected error code
            elif status >= 400:
                try:
                    body = b"".join(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
                record["outcome"] = _error_code(status, headers, body)
                if record["service"] in QUERY_PROTOCOL_SERVICES:
                    body, headers = _query_protocol_error(body, headers)
                result = [body]
            else:
                record["outcome"] = "ok"
            record["httpStatus"] = status
            start_response(captured.get("status_line", "500 Internal Server Error"), headers,
                           captured.get("exc_info"))
            return result
        except Exception:
            record["outcome"] = "InternalError"
            record["httpStatus"] = 500
            raise
        finally:
            _current.record = None
            _current.access_key_id = None
            CALLS.append(record)
