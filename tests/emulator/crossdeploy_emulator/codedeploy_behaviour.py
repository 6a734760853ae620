"""How CodeDeploy deployments created in a group behave (part of gap (c)).

A *behaviour* is set per (account, application, deployment group) through the control
API (``POST /_crossdeploy/codedeploy/behaviour``) and captured by each deployment when it
is created:

- ``mode``: ``succeed`` (default), ``fail`` (ends ``Failed`` with ``errorCode`` /
  ``errorMessage``) or ``hold`` (stays ``InProgress`` until stopped or completed through
  the control API);
- ``inProgressAfterSeconds`` / ``completeAfterSeconds``: delays from createTime;
- ``instanceCount``: size of the notional fleet (``deploymentOverview``, deployment
  targets);
- ``failedInstances`` (an int, or ``"all"``, the default) and ``failedLifecycleEvent``
  (default ``ApplicationStart``): in a deployment that ends ``Failed``, how many of its
  instances failed and at which lifecycle event (``codedeploy_targets``).

Groups without a behaviour use the default, whose delays come from
``CROSSDEPLOY_EMULATOR_CD_IN_PROGRESS_AFTER`` (0.3 s) and
``CROSSDEPLOY_EMULATOR_CD_COMPLETE_AFTER`` (1.5 s).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from typing import Any, Optional

MODES = ("succeed", "fail", "hold")

# Lifecycle events whose appspec hook scripts can fail an EC2/on-premises instance,
# and the script each one runs in the seeded bundles' appspec (ApplicationStart is
# the hook the bundles really have; the others are named the same way).
HOOK_SCRIPTS = {
    "ApplicationStop": "scripts/stop.sh",
    "BeforeInstall": "scripts/before_install.sh",
    "AfterInstall": "scripts/after_install.sh",
    "ApplicationStart": "scripts/start.sh",
    "ValidateService": "scripts/validate.sh",
}
ALL_INSTANCES = "all"

ENV_IN_PROGRESS_AFTER = "CROSSDEPLOY_EMULATOR_CD_IN_PROGRESS_AFTER"
ENV_COMPLETE_AFTER = "CROSSDEPLOY_EMULATOR_CD_COMPLETE_AFTER"

DEFAULT_ERROR_CODE = "HEALTH_CONSTRAINTS"
DEFAULT_ERROR_MESSAGE = (
    "The overall deployment failed because too many individual instances failed "
    "deployment, too few healthy instances are available for deployment, or some "
    "instances in your deployment group are experiencing problems."
)


@dataclass(frozen=True)
class Behaviour:
    mode: str = "succeed"
    in_progress_after: float = 0.3
    complete_after: float = 1.5
    error_code: str = DEFAULT_ERROR_CODE
    error_message: str = DEFAULT_ERROR_MESSAGE
    instance_count: int = 1
    failed_instances: Optional[int] = None  # None: all instances of a failed deployment
    failed_lifecycle_event: str = "ApplicationStart"

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "inProgressAfterSeconds": self.in_progress_after,
            "completeAfterSeconds": self.complete_after,
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "instanceCount": self.instance_count,
            "failedInstances": ALL_INSTANCES if self.failed_instances is None
            else self.failed_instances,
            "failedLifecycleEvent": self.failed_lifecycle_event,
        }


def default_behaviour_from_env(environ: Optional[dict] = None) -> Behaviour:
    environ = os.environ if environ is None else environ
    return Behaviour(
        in_progress_after=float(environ.get(ENV_IN_PROGRESS_AFTER, "0.3")),
        complete_after=float(environ.get(ENV_COMPLETE_AFTER, "1.5")),
    )


_JSON_TO_FIELD = {
    "mode": "mode",
    "inProgressAfterSeconds": "in_progress_after",
    "completeAfterSeconds": "complete_after",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "instanceCount": "instance_count",
    "failedInstances": "failed_instances",
    "failedLifecycleEvent": "failed_lifecycle_event",
}


class BehaviourRegistry:
    """Behaviour per (account, application, deployment group), plus a global default."""

    def __init__(self, default: Behaviour):
        self._lock = threading.Lock()
        self._default = default
        self._groups: dict[tuple[str, str, str], Behaviour] = {}

    @property
    def default(self) -> Behaviour:
        return self._default

    def get(self, account: str, application: str, group: str) -> Behaviour:
        with self._lock:
            return self._groups.get((account, application, group), self._default)

    def update(
        self,
        changes: dict,
        account: Optional[str] = None,
        application: Optional[str] = None,
        group: Optional[str] = None,
    ) -> Behaviour:
        """Merge JSON ``changes`` into a group's behaviour (or the default when no group
        is given). Raises ValueError on bad input."""
        unknown = set(changes) - set(_JSON_TO_FIELD)
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in changes.items():
            if value is None:
                continue
            name = _JSON_TO_FIELD[key]
            if name == "mode":
                if value not in MODES:
                    raise ValueError(f"mode must be one of {MODES}, got {value!r}")
            elif name in ("in_progress_after", "complete_after"):
                value = float(value)
                if value < 0:
                    raise ValueError(f"{key} must be >= 0")
            elif name == "instance_count":
                value = int(value)
                if value < 0:
                    raise ValueError("instanceCount must be >= 0")
            elif name == "failed_instances":
                if value == ALL_INSTANCES:
                    value = None
                else:
                    value = int(value)
                    if value < 0:
                        raise ValueError('failedInstances must be >= 0 or "all"')
            elif name == "failed_lifecycle_event":
                if value not in HOOK_SCRIPTS:
                    raise ValueError(f"failedLifecycleEvent must be one of {tuple(HOOK_SCRIPTS)}")
            else:
                value = str(value)
            kwargs[name] = value
        with self._lock:
            if group is None:
                self._default = replace(self._default, **kwargs)
                return self._default
            if not (account and application):
                raise ValueError("account and applicationName are required with a group")
            key = (account, application, group)
            updated = replace(self._groups.get(key, self._default), **kwargs)
            if updated.complete_after < updated.in_progress_after:
                raise ValueError("completeAfterSeconds must be >= inProgressAfterSeconds")
            self._groups[key] = updated
            return updated


BEHAVIOURS = BehaviourRegistry(default_behaviour_from_env())
