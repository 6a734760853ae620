"""A small IAM policy evaluator for resource-based policies (trust and bucket policies).

Why not moto's ``moto.iam.access_control.IAMPolicy``? It is written for identity
policies: it ignores ``Principal`` values other than ``"*"``/exact strings (account ids
and ``:root`` ARNs never match), a statement whose principal does not match yields an
explicit *Deny* (so a second statement can never grant), conditions other than the
trust-policy ones are not supported, and ``Action`` matching is case-sensitive.

This evaluator implements the subset that the crossdeploy e2e tests need, with AWS's
semantics:

- Effect ``Allow``/``Deny``; an explicit Deny anywhere wins, otherwise an Allow is
  needed (``evaluate`` returns ``ALLOW``/``DENY``/``NEUTRAL``).
- ``Principal``/``NotPrincipal``: ``"*"``, ``{"AWS": ...}`` with an account id,
  ``arn:aws:iam::A:root``, a user ARN, a role ARN (matches every session of the role)
  or an assumed-role session ARN. ``Service``/``Federated`` principals never match an
  IAM caller.
- ``Action``/``NotAction`` with ``*``/``?`` wildcards, case-insensitive.
- ``Resource``/``NotResource`` with wildcards, case-sensitive; a statement without
  either (trust policies) applies to any resource.
- ``Condition`` operators ``String(Not)Equals``, ``String(Not)Like``,
  ``StringEqualsIgnoreCase``, ``Bool``, each with optional ``...IfExists``. A statement
  with an unsupported operator does not apply (and is logged), which errs on the side
  of denying.
"""

from __future__ import annotations

import json
import logging
import re
from enum import Enum
from typing import Any, Mapping, Optional, Union

from .identity import Caller

log = logging.getLogger(__name__)

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ARN = re.compile(r"^arn:aws:iam::(\d{12}):root$")


class Decision(Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    NEUTRAL = "Neutral"  # no statement applies: implicit deny unless something else allows


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool) -> bool:
    # IAM wildcards are '*' and '?' only; escape everything else ([, ] ...).
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
    )
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.fullmatch(regex, value, flags) is not None


def principal_value_matches(value: str, caller: Caller) -> bool:
    """Does one ``Principal.AWS`` entry name this caller?"""
    if value == "*":
        return True
    if _ACCOUNT_ID.match(value):
        return value == caller.account
    root = _ROOT_ARN.match(value)
    if root:
        return root.group(1) == caller.account
    if value == caller.arn:
        return True
    return caller.role_arn is not None and value == caller.role_arn


def _principal_block_matches(block: Any, caller: Caller) -> bool:
    if block == "*":
        return True
    if not isinstance(block, Mapping):
        return False
    return any(principal_value_matches(v, caller) for v in _as_list(block.get("AWS")))


def _condition_holds(
    operator: str, expected: Mapping[str, Any], context: Mapping[str, Optional[str]]
) -> Optional[bool]:
    """True/False, or None for an unsupported operator."""
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    negated = base in ("StringNotEquals", "StringNotLike")
    for key, wanted in expected.items():
        actual = context.get(key)
        if actual is None:
            # AWS: a missing key fails positive operators, satisfies negated ones and
            # is ignored by ...IfExists.
            if if_exists or negated:
                continue
            return False
        wanted_values = [str(w) for w in _as_list(wanted)]
        if base == "StringEquals":
            ok = actual in wanted_values
        elif base == "StringNotEquals":
            ok = actual not in wanted_values
        elif base == "StringEqualsIgnoreCase":
            ok = actual.lower() in (w.lower() for w in wanted_values)
        elif base == "StringLike":
            ok = any(_wildcard(w, actual, ignore_case=False) for w in wanted_values)
        elif base == "StringNotLike":
            ok = not any(_wildcard(w, actual, ignore_case=False) for w in wanted_values)
        elif base == "Bool":
            ok = actual.lower() in (w.lower() for w in wanted_values)
        else:
            return None
        if not ok:
            return False
    return True


def _statement_applies(
    statement: Mapping[str, Any],
    caller: Caller,
    action: str,
    resource: Optional[str],
    context: Mapping[str, Optional[str]],
) -> bool:
    if "Principal" in statement:
        if not _principal_block_matches(statement["Principal"], caller):
            return False
    elif "NotPrincipal" in statement:
        if _principal_block_matches(statement["NotPrincipal"], caller):
            return False

    if "Action" in statement:
        if not any(
            _wildcard(a, action, ignore_case=True) for a in _as_list(statement["Action"])
        ):
            return False
    elif "NotAction" in statement:
        if any(
            _wildcard(a, action, ignore_case=True)
            for a in _as_list(statement["NotAction"])
        ):
            return False
    else:
        return False

    if resource is not None:
        if "Resource" in statement:
            if not any(
                _wildcard(r, resource, ignore_case=False)
                for r in _as_list(statement["Resource"])
            ):
                return False
        elif "NotResource" in statement:
            if any(
                _wildcard(r, resource, ignore_case=False)
                for r in _as_list(statement["NotResource"])
            ):
                return False

    for operator, expected in (statement.get("Condition") or {}).items():
        holds = _condition_holds(operator, expected, context)
        if holds is None:
            log.warning(
                "policy condition operator %r is not supported by the emulator; "
                "statement %r does not apply",
                operator,
                statement.get("Sid"),
            )
            return False
        if not holds:
            return False
    return True


def parse_policy(document: Union[str, bytes, Mapping[str, Any], None]) -> Optional[dict]:
    if document is None:
        return None
    if isinstance(document, bytes):
        document = document.decode("utf-8")
    if isinstance(document, str):
        if not document.strip():
            return None
        from urllib.parse import unquote

        text = document if document.lstrip().startswith("{") else unquote(document)
        return json.loads(text)
    return dict(document)


def evaluate(
    document: Union[str, bytes, Mapping[str, Any], None],
    *,
    caller: Caller,
    action: str,
    resource: Optional[str] = None,
    context: Optional[Mapping[str, Optional[str]]] = None,
) -> Decision:
    """Evaluate a resource-based policy for ``caller`` doing ``action`` on ``resource``."""
    policy = parse_policy(document)
    if not policy:
        return Decision.NEUTRAL
    context = dict(context or {})
    context.setdefault("aws:PrincipalArn", caller.role_arn or caller.arn)
    context.setdefault("aws:PrincipalAccount", caller.account)
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not _statement_applies(statement, caller, action, resource, context):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.DENY
        if statement.get("Effect") == "Allow":
            allowed = True
    return Decision.ALLOW if allowed else Decision.NEUTRAL

