"""Fault injection for resilience tests: throttling, 5xx, latency and expired credentials.

What moto 5.2.5 does: nothing of the kind; every request is answered as well as moto can.

What this module adds (rules are set through the control API, ``/_crossdeploy/faults``):

- a *rule* matches requests on ``service`` (``sts``, ``s3``, ``codedeploy``, ``iam``),
  ``operation`` (as recorded in ``/calls``: ``AssumeRole``, ``HeadObject``,
  ``GetDeployment``...), ``principal_contains`` (substring of the caller's ARN, e.g.
  ``/my-session``) and ``account`` (the caller's account); at least one is required, so
  that tests running in parallel against one emulator can scope their faults;
- its effect: ``throttle``, ``error5xx`` (``httpStatus`` 500 or 503), ``expiredToken``
  (as if the session credentials had expired), and/or ``latencySeconds`` (sleep before
  answering; alone, the call then succeeds normally);
- how often: ``probability`` (default 1; drawn from a ``random.Random(seed)`` per rule,
  so a run with the same sequence of matching calls repeats exactly) and ``count`` (fire
  at most N times, e.g. "the next 2 calls");
- ``existingSessionsOnly``: match only calls signed with assumed-role credentials that
  existed when the rule was added. With ``expiredToken`` this is what expiry looks like:
  the sessions a caller holds stop working, and a session it assumes afterwards works
  (a rule on ``principal_contains`` alone also fails the new session, whose ARN is the
  same);
- rules are checked in the order they were added; the latency of every rule that fires
  adds up, the first rule that fires with an error effect decides the answer.

Errors are answered in each protocol's real shape, so that SDKs parse and classify them
(``render``; the table is also in the README): awsQuery ``<ErrorResponse><Error>`` for
STS/IAM, awsJson ``{"__type", "message"}`` + ``x-amzn-ErrorType`` for CodeDeploy, and
S3's ``<Error>`` (HEAD requests: status only, no body, as S3 does).

How it hooks in: ``counters`` annotates each request's record inside moto's
authorization entry point and then calls its request listeners; ``on_request`` is one.
When a rule fires with an error it aborts moto's processing there (so the operation has
no effect: an injected CreateDeployment creates nothing) and ``FaultMiddleware``, the
WSGI layer right around moto, replaces moto's answer by the injected error and marks
the call record ``"injected": true`` with the injected code as outcome.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from . import counters

log = logging.getLogger(__name__)

EFFECTS = ("throttle", "error5xx", "expiredToken")
MATCH_FIELDS = ("service", "operation", "principal_contains", "account")
QUERY_PROTOCOL_SERVICES = ("sts", "iam")

# (HTTP status, code, message) per protocol and effect; error5xx is keyed by its status.
_QUERY_ERRORS = {
    "throttle": (400, "Throttling", "Rate exceeded"),
    "expiredToken": (403, "ExpiredToken", "The security token included in the request is expired"),
    500: (500, "InternalFailure", "The request processing has failed because of an unknown "
                                  "error, exception or failure."),
    503: (503, "ServiceUnavailable", "The request has failed due to a temporary failure of "
                                     "the server."),
}
_JSON_ERRORS = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "expiredToken": (400, "ExpiredTokenException",
                     "The security token included in the request is expired"),
    500: _QUERY_ERRORS[500],
    503: _QUERY_ERRORS[503],
}
_S3_ERRORS = {
    "throttle": (503, "SlowDown", "Please reduce your request rate."),
    "expiredToken": (400, "ExpiredToken", "The provided token has expired."),
    500: (500, "InternalError", "We encountered an internal error. Please try again."),
    503: (503, "ServiceUnavailable", "Please reduce your request rate."),
}


def error_table(service: Optional[str]) -> dict:
    if service == "s3":
        return _S3_ERRORS
    if service in QUERY_PROTOCOL_SERVICES:
        return _QUERY_ERRORS
    return _JSON_ERRORS


@dataclass
class Rule:
    id: str
    effect: Optional[str] = None
    service: Optional[str] = None
    operation: Optional[str] = None
    principal_contains: Optional[str] = None
    account: Optional[str] = None
    probability: float = 1.0
    count: Optional[int] = None
    latency_seconds: float = 0.0
    http_status: int = 500
    seed: int = 0
    matched: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    # existingSessionsOnly: access key ids of the sessions that existed at creation
    sessions: Optional[frozenset] = field(default=None, repr=False)

    def matches(self, record: dict) -> bool:
        if self.sessions is not None and counters.current_access_key_id() not in self.sessions:
            return False
        if self.service and record.get("service") != self.service:
            return False
        if self.operation and record.get("operation") != self.operation:
            return False
        if self.principal_contains and self.principal_contains not in (record.get("principal") or ""):
            return False
        if self.account and record.get("account") != self.account:
            return False
        return True

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def to_json(self) -> dict:
        doc: dict[str, Any] = {"id": self.id}
        doc.update({k: getattr(self, k) for k in MATCH_FIELDS if getattr(self, k)})
        if self.effect:
            doc["effect"] = self.effect
        if self.effect == "error5xx":
            doc["httpStatus"] = self.http_status
        if self.latency_seconds:
            doc["latencySeconds"] = self.latency_seconds
        if self.sessions is not None:
            doc.update(existingSessionsOnly=True, existingSessions=len(self.sessions))
        doc.update(probability=self.probability, seed=self.seed, count=self.count,
                   matched=self.matched, fired=self.fired)
        return doc


_RULE_FIELDS = {
    "id", "effect", "probability", "count", "latencySeconds", "httpStatus", "seed",
    "existingSessionsOnly", *MATCH_FIELDS,
}


def existing_sessions() -> frozenset:
    """Access key ids of every assumed-role session STS has issued so far."""
    from moto.sts.models import sts_backends

    keys: set = set()
    for account in list(sts_backends.keys()):
        backend = sts_backends[account].get("aws")  # dict.get: creates nothing
        if backend is not None:
            keys.update(role.access_key_id for role in backend.assumed_roles)
    return frozenset(keys)


def parse_rule(doc: Any, rule_id: str) -> Rule:
    """A Rule from its JSON form; ValueError with a readable reason otherwise."""
    if not isinstance(doc, dict):
        raise ValueError("a rule must be a JSON object")
    unknown = set(doc) - _RULE_FIELDS
    if unknown:
        raise ValueError(f"unknown rule fields: {sorted(unknown)}")
    if not any(doc.get(k) for k in MATCH_FIELDS):
        raise ValueError(f"a rule needs at least one of {MATCH_FIELDS} (scope it to your test)")
    effect = doc.get("effect")
    if effect is not None and effect not in EFFECTS:
        raise ValueError(f"effect must be one of {EFFECTS}, got {effect!r}")
    latency = float(doc.get("latencySeconds") or 0)
    if latency < 0 or latency > 60:
        raise ValueError("latencySeconds must be between 0 and 60")
    if effect is None and not latency:
        raise ValueError("a rule needs an effect or latencySeconds")
    probability = float(doc.get("probability", 1.0))
    if not 0 <= probability <= 1:
        raise ValueError("probability must be between 0 and 1")
    count = doc.get("count")
    if count is not None:
        count = int(count)
        if count < 1:
            raise ValueError("count must be >= 1")
    http_status = int(doc.get("httpStatus") or 500)
    if http_status not in (500, 503):
        raise ValueError("httpStatus must be 500 or 503")
    if "httpStatus" in doc and effect != "error5xx":
        raise ValueError("httpStatus applies to effect error5xx only")
    seed = int(doc.get("seed") or 0)
    existing_only = doc.get("existingSessionsOnly", False)
    if not isinstance(existing_only, bool):
        raise ValueError("existingSessionsOnly must be true or false")
    rule = Rule(
        id=str(doc.get("id") or rule_id), effect=effect,
        **{k: (str(doc[k]) if doc.get(k) else None) for k in MATCH_FIELDS},
        probability=probability, count=count, latency_seconds=latency,
        http_status=http_status, seed=seed,
        sessions=existing_sessions() if existing_only else None,
    )
    rule.rng.seed(seed)
    return rule


class FaultRules:
    """The active rules (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    def add(self, docs: list) -> list[Rule]:
        with self._lock:
            rules = [parse_rule(doc, f"f-{next(self._ids)}") for doc in docs]
            taken = {r.id for r in self._rules}
            for rule in rules:
                if rule.id in taken:
                    raise ValueError(f"a rule with id {rule.id!r} exists already")
                taken.add(rule.id)
            self._rules.extend(rules)
            return rules

    def list(self) -> list[dict]:
        with self._lock:
            return [r.to_json() for r in self._rules]

    def clear(self, rule_id: Optional[str] = None) -> int:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if rule_id is not None and r.id != rule_id]
            return before - len(self._rules)

    def decide(self, record: dict) -> tuple[float, Optional[Rule]]:
        """(latency to add, rule whose error to answer) for one request; counts it."""
        latency = 0.0
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(record):
                    continue
                rule.matched += 1
                if rule.rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                latency += rule.latency_seconds
                if rule.effect:
                    return latency, rule
        return latency, None


RULES = FaultRules()

# Per request thread: whether rules were consulted (moto may authorize twice) and the
# error to answer with: (HTTP status, code, message).
_request = threading.local()


def _abort(service: Optional[str]) -> Exception:
    """An exception moto turns into some error response, ending the request before the
    operation runs (FaultMiddleware replaces that response)."""
    if service == "s3":
        from moto.s3.exceptions import S3ClientError

        return S3ClientError("InjectedFault", "injected by the crossdeploy emulator")
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("InjectedFault", "injected by the crossdeploy emulator")


def on_request(record: dict) -> None:
    """counters' request listener: apply the rules to this (annotated) request."""
    if getattr(_request, "decided", True):
        return
    _request.decided = True
    latency, rule = RULES.decide(record)
    if latency:
        record["injectedLatencySeconds"] = latency
        time.sleep(latency)
    if rule is None:
        return
    table = error_table(record.get("service"))
    _request.error = table[rule.http_status if rule.effect == "error5xx" else rule.effect]
    log.info("fault %s: %s %s:%s by %s -> %s", rule.id, rule.effect, record.get("service"),
             record.get("operation"), record.get("principal"), _request.error[1])
    raise _abort(record.get("service"))


def render(service: Optional[str], method: str, error: tuple[int, str, str]) -> tuple[str, list, bytes]:
    """(status line, headers, body) of an injected error in the service's protocol."""
    status, code, message = error
    request_id = str(uuid.uuid4())
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error",
              503: "Service Unavailable"}[status]
    if service == "s3":
        headers = [("x-amz-request-id", request_id.replace("-", "")[:16].upper()),
                   ("x-amz-id-2", request_id)]
        if method == "HEAD":  # S3 answers HEAD errors with a status only
            return f"{status} {reason}", headers + [("Content-Length", "0")], b""
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>{headers[0][1]}</RequestId>"
                f"<HostId>{request_id}</HostId></Error>").encode()
        content_type = "application/xml"
    elif service in QUERY_PROTOCOL_SERVICES:
        fault = "Sender" if status < 500 else "Receiver"
        body = (f"<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                f"</ErrorResponse>").encode()
        headers = [("x-amzn-RequestId", request_id)]
        content_type = "text/xml"
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)]
        content_type = "application/x-amz-json-1.1"
    headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return f"{status} {reason}", headers, body


class FaultMiddleware:
    """WSGI layer around moto: answers a request that a rule faulted with the injected
    error instead of moto's response."""

    def __init__(self, app: Callable):
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        _request.decided = False
        _request.error = None
        captured: dict = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return lambda _data: None

        try:
            result = self.app(environ, capture)
            error = _request.error
            if error is None:
                start_response(captured["status"], captured["headers"], captured.get("exc_info"))
                return result
            if hasattr(result, "close"):
                result.close()
            record = counters.current_record() or {}
            status, headers, body = render(record.get("service"), environ.get("REQUEST_METHOD", ""), error)
            record.update(injected=True, outcome=error[1])
            start_response(status, headers)
            return [body]
        finally:
            _request.decided = True  # requests outside this layer are never faulted
            _request.error = None


def install() -> None:
    counters.add_request_listener(on_request)
