"""Gap (a): AssumeRole must honour the target role's trust policy, in any account.

What moto 5.2.5 does: ``IAMRequestBase.check_action_permitted`` checks the caller's
identity policies, then calls ``_is_assuming_role_operation``, which looks the role up
in the *caller's* IAM backend. For a role in another account the lookup fails, so the
trust policy is never evaluated: a cross-account AssumeRole with a wrong ExternalId, or
from a principal the role does not trust, succeeds. (And moto's trust evaluation does
not understand ``arn:aws:iam::A:root``/account-id principals.)

What this patch does, for ``sts:AssumeRole`` only (everything else goes to moto):

1. the caller's identity policies must allow ``sts:AssumeRole`` on the role ARN
   (moto's own evaluator, as before; an explicit Deny wins);
2. the role must exist in the account named by its ARN;
3. the role's trust policy, read from that account, must allow the caller
   (``policy.evaluate``: user ARN / session ARN / role ARN / account root / ``*``)
   with the request's ``sts:ExternalId`` as condition context;
4. with session tags (``Tags``), ``sts:TagSession`` must be allowed as well, by the
   identity policy and the trust policy (as in AWS);
5. ``DurationSeconds`` may not exceed the role's MaxSessionDuration (ValidationError).

Otherwise the request fails like AWS does::

    AccessDenied: User: arn:aws:iam::111111111111:user/crossdeploy-operator is not
    authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/X

The ExternalId is only compared, never logged or recorded.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from . import identity, policy

log = logging.getLogger(__name__)

ASSUME_ROLE = "sts:AssumeRole"
TAG_SESSION = "sts:TagSession"
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)$")

_installed = False


def _first(data: Any, name: str) -> Optional[str]:
    value = data.get(name) if hasattr(data, "get") else None
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _role(role_arn: str) -> Any:
    """The role named by ``role_arn``, looked up in the role's own account, or None."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    match = _ROLE_ARN.match(role_arn or "")
    if not match:
        return None
    try:
        return iam_backends[match.group(1)][identity.PARTITION].get_role_by_arn(role_arn)
    except NotFoundException:
        return None


def trust_allows(
    role_arn: str,
    caller: identity.Caller,
    external_id: Optional[str],
    actions: tuple[str, ...] = (ASSUME_ROLE,),
) -> bool:
    role = _role(role_arn)
    if role is None:
        return False  # AWS answers AccessDenied for a role that does not exist
    return all(
        policy.evaluate(
            role.assume_role_policy_document,
            caller=caller,
            action=action,
            resource=None,  # trust policies have no Resource element
            context={"sts:ExternalId": external_id},
        )
        is policy.Decision.ALLOW
        for action in actions
    )


def install() -> None:
    """Wrap ``IAMRequestBase.check_action_permitted`` (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.access_control import IAMPolicy, IAMRequestBase, PermissionResult

    original = IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action != ASSUME_ROLE:
            return original(self, resource)

        role_arn = resource
        caller = identity.resolve_caller(
            self.account_id, self._access_key._access_key_id, self._headers
        )
        caller_arn = caller.arn if caller else self._access_key.arn

        def deny(why: str) -> None:
            log.info("AssumeRole denied: %s -> %s (%s)", caller_arn, role_arn, why)
            # AccessDeniedError formats "User: {user_arn} is not authorized to perform:
            # {action}"; appending the resource gives AWS's exact AssumeRole message.
            raise AccessDeniedError(
                user_arn=caller_arn, action=f"{ASSUME_ROLE} on resource: {role_arn}"
            )

        with_tags = any(str(k).startswith("Tags.member.") for k in self._data)
        actions = (ASSUME_ROLE, TAG_SESSION) if with_tags else (ASSUME_ROLE,)

        # 1. (+4.) identity policies of the caller (moto's evaluator and semantics)
        policies = [IAMPolicy(document) for document in self._access_key.collect_policies()]
        for action in actions:
            permitted = False
            for identity_policy in policies:
                result = identity_policy.is_action_permitted(action, role_arn)
                if result == PermissionResult.DENIED:
                    deny(f"explicit deny of {action} in the caller's identity policy")
                if result == PermissionResult.PERMITTED:
                    permitted = True
            if not permitted:
                deny(f"the caller's identity policy does not allow {action}")
        # 2. + 3. (+4.) the role exists and its trust policy allows this caller
        if caller is None:
            deny("unknown caller")
        if not trust_allows(role_arn, caller, _first(self._data, "ExternalId"), actions):
            deny("the role's trust policy does not allow this principal/ExternalId"
                 + (" with session tags" if with_tags else ""))

    check_action_permitted.__doc__ = __doc__
    IAMRequestBase.check_action_permitted = check_action_permitted

    # 5. DurationSeconds vs. MaxSessionDuration. Checked in the backend, not above:
    # moto's response code only turns *service* exceptions raised there into errors.
    from moto.sts.exceptions import STSValidationError
    from moto.sts.models import STSBackend

    original_assume_role = STSBackend.assume_role

    def assume_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        role = _role(kwargs.get("role_arn", ""))
        duration = kwargs.get("duration")
        limit = int(getattr(role, "max_session_duration", None) or 3600)
        if role is not None and duration is not None and int(duration) > limit:
            raise STSValidationError(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        return original_assume_role(self, *args, **kwargs)

    STSBackend.assume_role = assume_role
    _installed = True
