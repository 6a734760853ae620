"""Who made a request: the caller principal behind a SigV4 access key.

moto already resolves an access key to an IAM user or an assumed-role session inside
``moto.iam.access_control`` (``IAMUserAccessKey`` / ``AssumedRoleAccessKey``), but only
exposes the ARN. The trust-policy check, the bucket-policy check and the call recorder
need a little more (the account, and for a session the ARN of the role it came from), so
this module wraps moto's lookup in a small value type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

PARTITION = "aws"

_ACCESS_KEY_IN_AUTH = re.compile(r"Credential=([A-Z0-9]{16,128})/")


@dataclass(frozen=True)
class Caller:
    """A resolved caller.

    ``arn``      user ARN (``arn:aws:iam::A:user/N``) or session ARN
                 (``arn:aws:sts::A:assumed-role/ROLE/SESSION``)
    ``account``  the caller's account id
    ``role_arn`` for an assumed-role session, the role's ARN (``arn:aws:iam::A:role/ROLE``)
    """

    arn: str
    account: str
    role_arn: Optional[str] = None

    @property
    def is_assumed_role(self) -> bool:
        return self.role_arn is not None

    @property
    def root_arn(self) -> str:
        return f"arn:{PARTITION}:iam::{self.account}:root"


def access_key_from_authorization(authorization: str | None) -> Optional[str]:
    """The access key id in a SigV4 ``Authorization`` header, or None."""
    if not authorization:
        return None
    match = _ACCESS_KEY_IN_AUTH.search(authorization)
    return match.group(1) if match else None


def resolve_caller(
    account_id: str, access_key_id: str, headers: Mapping[str, Any]
) -> Optional[Caller]:
    """Resolve ``access_key_id`` (already known to live in ``account_id``) to a Caller.

    Returns None when moto does not know the key (the request will be rejected by
    moto's own signature check anyway).
    """
    from moto.iam.access_control import (
        AssumedRoleAccessKey,
        CreateAccessKeyFailure,
        create_access_key,
    )

    try:
        key = create_access_key(
            account_id=account_id,
            partition=PARTITION,
            access_key_id=access_key_id,
            headers=headers,  # type: ignore[arg-type]
        )
    except (CreateAccessKeyFailure, KeyError):
        return None
    if isinstance(key, AssumedRoleAccessKey):
        from moto.sts.models import sts_backends

        session = sts_backends[account_id][PARTITION].get_assumed_role_from_access_key(
            access_key_id
        )
        role_arn = (
            session.role_arn
            if session is not None
            else f"arn:{PARTITION}:iam::{account_id}:role/{key._owner_role_name}"
        )
        return Caller(arn=key.arn, account=account_id, role_arn=role_arn)
    return Caller(arn=key.arn, account=account_id)


def caller_of_response(response: Any) -> Optional[Caller]:
    """The caller of the request a moto ``BaseResponse`` is handling (after setup_class)."""
    try:
        access_key_id = access_key_from_authorization(
            response.headers.get("Authorization")
        )
        if not access_key_id:
            return None
        return resolve_caller(response.current_account, access_key_id, response.headers)
    except Exception:  # never let bookkeeping break a request
        return None
