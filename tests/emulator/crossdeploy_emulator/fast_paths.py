"""Work moto repeats on every request although its answer rarely or never changes.

Measured with cProfile on the calls the operator makes (ListDeployments,
GetDeploymentGroup, CreateDeployment, GetDeployment as an assumed role), each of these
cost a noticeable share of the emulator's CPU time per request in moto 5.2.5:

- ``DomainDispatcherApplication.get_backend_for_host`` calls
  ``moto.backends.list_of_moto_modules()`` twice per request, which lists moto's package
  directory and ``stat``s each of its ~180 entries (about a third of the time per call).
  Here: computed once; moto's package does not change while the server runs.
- ``BaseResponse.call_action`` calls ``method_names_from_class`` (``inspect.getmembers``
  over the whole response class) per request. Here: cached per class, filled on first
  use — every extension has patched its classes before the server answers anything.
- An assumed-role access key is looked up by walking the list of every session STS has
  issued (``AssumedRoleAccessKey.__init__``, ``STSBackend.get_assumed_role_from_access_key``):
  linear in the sessions issued, and an operator restarted a hundred times issues many.
  Here: a dict per STS backend, kept in step with moto's append-only list; same
  results, same errors (``InvalidId``, ``InvalidToken``).

- Every error response looks up the service of the exception's moto package with
  ``service_name_from_moto_package_name``, which builds a botocore ``Session`` and lists
  every service botocore knows (some 1,200 ``stat`` calls) — per error, and the
  operator's guide-exact HeadObject is refused half the time. Here: cached per package.
- ``get_service_model`` is cached by moto, but not locked: the first burst of
  concurrent requests (an operator starting 32 reconciles at once) loads the same
  large JSON model once per thread. Here: the models of the services the operator
  uses are loaded before the server answers.

Profiled with py-spy under the operator at 400 objects, these were ~90 % of the
emulator's CPU before; nothing observable changes: the same answers, errors and
records, only sooner.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

_installed = False


def _assumed_role(sts_backend: Any, access_key_id: str) -> Optional[Any]:
    """The AssumedRole with this access key id, via an index over moto's list."""
    roles = sts_backend.assumed_roles
    index = getattr(sts_backend, "_xd_sessions", None)
    if index is None or index[0] > len(roles):
        index = (0, {})
    seen, by_key = index
    for role in roles[seen:]:
        by_key.setdefault(role.access_key_id, role)
    sts_backend._xd_sessions = (len(roles), by_key)
    return by_key.get(access_key_id)


def _install_dispatch_cache() -> None:
    from moto import backends
    from moto.core import responses

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    original = responses.method_names_from_class
    cache: dict[type, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        names = cache.get(clazz)
        if names is None:
            names = cache[clazz] = original(clazz)
        return names

    responses.method_names_from_class = method_names_from_class


def _install_session_index() -> None:
    from moto.iam import access_control
    from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure
    from moto.sts.models import STSBackend

    def get_assumed_role_from_access_key(self: Any, access_key_id: str) -> Any:
        return _assumed_role(self, access_key_id)

    STSBackend.get_assumed_role_from_access_key = get_assumed_role_from_access_key

    def __init__(self: Any, account_id: str, partition: str, access_key_id: str,
                 headers: dict) -> None:
        # moto's AssumedRoleAccessKey.__init__, with the lookup by index.
        self.account_id = account_id
        self.partition = partition
        role = _assumed_role(access_control.sts_backends[account_id][partition], access_key_id)
        if role is None:
            raise CreateAccessKeyFailure(reason="InvalidId")
        self._access_key_id = access_key_id
        self._secret_access_key = role.secret_access_key
        self._session_token = role.session_token
        self._owner_role_name = role.role_arn.split("/")[-1]
        self._session_name = role.session_name
        if headers["X-Amz-Security-Token"] != self._session_token:
            raise CreateAccessKeyFailure(reason="InvalidToken")

    AssumedRoleAccessKey.__init__ = __init__


# Services the operator calls; their models are loaded before serving.
WARM_MODELS = ("sts", "s3", "codedeploy", "iam")


def _install_model_caches() -> None:
    from moto.core import utils

    utils.service_name_from_moto_package_name = functools.cache(
        utils.service_name_from_moto_package_name)
    for service in WARM_MODELS:
        utils.get_service_model(service)


def install() -> None:
    global _installed
    if _installed:
        return
    _install_dispatch_cache()
    _install_session_index()
    _install_model_caches()
    _installed = True
