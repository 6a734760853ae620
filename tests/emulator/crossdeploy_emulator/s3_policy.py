"""Gap (b): cross-account S3 access needs a grant in the bucket policy.

What moto 5.2.5 does: with IAM enforcement on, an S3 request is allowed when the
*caller's identity policies* allow it. Bucket policies are consulted only for
anonymous requests and for Deny statements (ignoring their ``Principal``), so a role in
the production account can read a bucket of the development account although the
bucket policy of guide step 2 does not name it.

What this patch adds (wrapping ``S3Response._authenticate_and_authorize_s3_action``,
i.e. after moto has verified the signature and the identity policy):

- an explicit ``Deny`` in the bucket policy that matches the caller wins (any account);
- a caller from another account than the bucket owner additionally needs an ``Allow``
  in the bucket policy (principal: the user/role ARN, the session ARN, the account
  root/id or ``*``; ``Action`` and ``Resource`` with wildcards). Conditions see
  ``aws:SecureTransport = false`` (the emulator speaks plain HTTP).

Otherwise S3 answers ``403 AccessDenied`` (``BucketAccessDeniedError``, as moto does
for identity-policy denials). The IAM action names are moto's (``s3:GetObject`` for
GetObject/HeadObject, ``s3:GetObjectVersion`` with ``versionId``, ``s3:ListBucket`` for
ListObjects(V2), ``s3:GetBucketPolicy``...).

moto's own, principal-blind bucket-policy pre-check (``FakeBucket.get_permission``: a
Deny for *anyone* denies *everyone*, with an empty 403 body that SDKs cannot parse) is
switched off while enforcement is on, so that bucket-policy decisions are made in one
place, here. (Consequence: DeleteObjects no longer applies bucket-policy Denies per key.)

A third, tiny fix: moto names the action of HeadBucket ``s3:HeadBucket``, which is not
an IAM action (AWS checks ``s3:ListBucket``), so a role with ``s3:List*`` could never
HeadBucket. The ACTION_MAP entry is pointed at ``ListBucket``.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from . import identity, policy

log = logging.getLogger(__name__)

# Condition keys of every request: the emulator serves plain HTTP only.
REQUEST_CONTEXT = {"aws:SecureTransport": "false"}

_installed = False


def bucket_owner_and_policy(bucket_name: str) -> Optional[tuple[str, Optional[bytes]]]:
    """(owner account id, policy document) of a bucket, or None if it does not exist."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        return None
    partition, account_id = owner
    bucket = s3_backends[account_id][partition].buckets.get(bucket_name)
    if bucket is None:
        return None
    return account_id, bucket.policy


def bucket_policy_decision(
    bucket_name: str, key_name: Optional[str], action: str, caller: identity.Caller
) -> tuple[bool, str]:
    """(allowed, reason) for ``caller`` doing ``action`` on the bucket/key."""
    found = bucket_owner_and_policy(bucket_name)
    if found is None:
        return True, "no such bucket (moto answers NoSuchBucket)"
    owner, document = found
    resource = f"arn:aws:s3:::{bucket_name}" + (f"/{key_name}" if key_name else "")
    decision = policy.evaluate(document, caller=caller, action=action, resource=resource,
                               context=REQUEST_CONTEXT)
    if decision is policy.Decision.DENY:
        return False, "explicit deny in the bucket policy"
    if caller.account != owner and decision is not policy.Decision.ALLOW:
        return False, (
            f"cross-account request from {caller.account} to a bucket of {owner} "
            "without a bucket-policy grant"
        )
    return True, "allowed"


def _enforcement_active() -> bool:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return (
        ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    )


def install() -> None:
    """Wrap ``S3Response._authenticate_and_authorize_s3_action`` (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.s3 import responses as s3_responses
    from moto.s3.exceptions import BucketAccessDeniedError

    # AWS authorizes HeadBucket with s3:ListBucket (there is no s3:HeadBucket action).
    s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"

    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    original_get_permission = FakeBucket.get_permission

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if _enforcement_active():
            return PermissionResult.NEUTRAL  # decided with the caller in mind, below
        return original_get_permission(self, action, resource)

    FakeBucket.get_permission = get_permission

    S3Response = s3_responses.S3Response
    original = S3Response._authenticate_and_authorize_s3_action

    def _authenticate_and_authorize_s3_action(
        self: Any, bucket_name: Optional[str] = None, key_name: Optional[str] = None
    ) -> None:
        original(self, bucket_name=bucket_name, key_name=key_name)  # signature + identity
        if not bucket_name or not _enforcement_active():
            return
        caller = identity.caller_of_response(self)
        if caller is None:
            return
        action = f"s3:{self._get_action()}"
        allowed, reason = bucket_policy_decision(bucket_name, key_name, action, caller)
        if not allowed:
            log.info("S3 %s on %s/%s denied for %s: %s", action, bucket_name,
                     key_name or "", caller.arn, reason)
            raise BucketAccessDeniedError(bucket=bucket_name)

    S3Response._authenticate_and_authorize_s3_action = _authenticate_and_authorize_s3_action
    _installed = True
