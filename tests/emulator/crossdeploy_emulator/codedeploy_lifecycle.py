"""Gap (c), the model: how a CodeDeploy deployment moves through its statuses.

What moto 5.2.5 does: a deployment stays ``Created`` forever (no startTime/completeTime,
an all-zero deploymentOverview).

Here each deployment gets a ``Plan`` when it is created (from the group's
``codedeploy_behaviour``): ``Created -> InProgress -> Succeeded | Failed`` at fixed
times, or ``hold`` (no completion). In a blue/green group whose
deploymentReadyOption.actionOnTimeout is ``STOP_DEPLOYMENT`` a successful install
becomes ``Ready`` (replacement instances ready, traffic not rerouted) instead, and stays
there until ``ContinueDeployment`` (``continue_deployment``), then ``InProgress`` while
traffic is rerouted (as long as the install took) and ``Succeeded``; ``StopDeployment``
works from Ready too. ``CONTINUE_DEPLOYMENT`` groups do not wait.

Status, times and overview are computed *lazily from the timestamps* whenever a
deployment is read (``refresh``), so there is no timer thread and results depend only
on the clock. Deployments are indexed by group (``_Index``), and a call refreshes only
the groups it touches and, in them, only the deployments that are not final yet: a
call costs the same with 10 or 10,000 deployments in the backend. A stop or a completion through the control API "forces" the final state at
that moment. The status of each instance (``instance_statuses``) is derived from the
deployment's status and the plan's ``failed_instances``; deploymentOverview counts it,
``codedeploy_targets`` reports it per target.

Rollbacks like AWS: ``StopDeployment`` with ``autoRollbackEnabled=true``, or a failure
when the deployment's autoRollbackConfiguration is enabled for ``DEPLOYMENT_FAILURE``,
starts a deployment of the group's last successful revision (creator
``codeDeployRollback``, description "Rollback of deployment d-...") and links both
through ``rollbackInfo``.

Fleet deployments (``start_fleet_deployment``, control API): CodeDeploy deploys the
group's last successful revision by itself when Auto Scaling launches instances (creator
``autoscaling``) or when it updates outdated instances after a deployment (creator
``CodeDeployAutoUpdate``, linked to its root deployment through ``relatedDeployments``).

Deployments CodeDeploy makes by itself always succeed (with the group's delays),
whatever the group's mode, and occupy the group like any other.

How this is wired into moto's API is in ``codedeploy_api``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import string
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from .codedeploy_behaviour import BEHAVIOURS, DEFAULT_ERROR_CODE, DEFAULT_ERROR_MESSAGE, Behaviour

ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
MANUAL_STOP = {"code": "MANUAL_STOP", "message": "The deployment was stopped by the user."}

_ID_ALPHABET = string.ascii_uppercase + string.digits

# One lock for every lifecycle read/write: moto's server is threaded and a
# "check for an active deployment, then create" must be atomic.
LOCK = threading.RLock()


# Ids need to be unique, not secret: one generator seeded from os.urandom (the
# secrets module read the OS for every character).
_ID_RANDOM = random.Random()


def new_deployment_id() -> str:
    return "d-" + "".join(_ID_RANDOM.choices(_ID_ALPHABET, k=9))


def utcnow() -> dt.datetime:
    """Naive UTC, like moto's own timestamps (``moto.core.utils.utcnow``)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------- plan


@dataclass
class Plan:
    """How one deployment evolves; attached to moto's DeploymentInfo as ``_xd_plan``."""

    in_progress_at: dt.datetime
    complete_at: Optional[dt.datetime]  # None: hold (never completes by itself)
    outcome: str  # "Succeeded" | "Failed"
    error: Optional[dict]
    instance_count: int
    failed_instances: int  # how many instances fail when the deployment ends Failed
    failed_event: str  # at which lifecycle event they fail
    # Blue/green: the replacement fleet is installed between in_progress_at and
    # complete_at. With ready_wait (deploymentReadyOption STOP_DEPLOYMENT) a successful
    # install then waits in Ready until ContinueDeployment; traffic rerouting takes
    # reroute_seconds from that moment.
    blue_green: bool = False
    ready_wait: bool = False
    reroute_seconds: float = 0.0
    continued_at: Optional[dt.datetime] = None
    forced: Optional[tuple[str, dt.datetime, Optional[dict]]] = None
    rollback_info: dict = field(default_factory=dict)
    rollback_handled: bool = False


@dataclass(frozen=True)
class Style:
    """What a deployment takes from its group's deploymentStyle and
    blueGreenDeploymentConfiguration."""

    blue_green: bool = False
    ready_wait: bool = False


def style_of(group: Any) -> Style:
    """BLUE_GREEN groups; those whose deploymentReadyOption.actionOnTimeout is
    STOP_DEPLOYMENT wait in Ready for ContinueDeployment (API Reference,
    DeploymentReadyOption)."""
    style = getattr(group, "deployment_style", None) or {}
    if style.get("deploymentType") != "BLUE_GREEN":
        return Style()
    config = getattr(group, "blue_green_deployment_configuration", None) or {}
    ready_option = config.get("deploymentReadyOption") or {}
    return Style(blue_green=True, ready_wait=ready_option.get("actionOnTimeout") == "STOP_DEPLOYMENT")


def make_plan(behaviour: Behaviour, created: dt.datetime, *, always_succeed: bool = False,
              style: Style = Style()) -> Plan:
    """The plan of a deployment created at ``created`` under ``behaviour``. Deployments
    CodeDeploy makes by itself (rollbacks, scale-out, auto-update) ``always_succeed``
    and never wait in Ready."""
    mode = "succeed" if always_succeed else behaviour.mode
    return Plan(
        in_progress_at=created + dt.timedelta(seconds=behaviour.in_progress_after),
        complete_at=None
        if mode == "hold"
        else created + dt.timedelta(seconds=behaviour.complete_after),
        outcome="Failed" if mode == "fail" else "Succeeded",
        error={"code": behaviour.error_code, "message": behaviour.error_message}
        if mode == "fail"
        else None,
        instance_count=behaviour.instance_count,
        failed_instances=behaviour.instance_count
        if behaviour.failed_instances is None
        else min(behaviour.failed_instances, behaviour.instance_count),
        failed_event=behaviour.failed_lifecycle_event,
        blue_green=style.blue_green,
        ready_wait=style.ready_wait and not always_succeed,
        reroute_seconds=behaviour.complete_after - behaviour.in_progress_after,
    )


# Status of every instance while the deployment as a whole has a given status.
_INSTANCE_STATUS = {
    "Created": "Pending",
    "Queued": "Pending",
    "InProgress": "InProgress",
    "Baking": "InProgress",
    "Ready": "Ready",
    "Succeeded": "Succeeded",
    "Stopped": "Skipped",
}


def instance_statuses(status: str, plan: Plan) -> list[str]:
    """Target status of each instance (by index) of a deployment in ``status``: all
    the same, except that a Failed deployment's first ``failed_instances`` failed and
    the others succeeded. deploymentOverview and the deployment targets both come from
    here, so they always agree."""
    if status == "Failed":
        failed = plan.failed_instances
        return ["Failed"] * failed + ["Succeeded"] * (plan.instance_count - failed)
    return [_INSTANCE_STATUS.get(status, "Pending")] * plan.instance_count


def _overview(status: str, plan: Plan) -> dict:
    overview = {k: 0 for k in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")}
    for instance_status in instance_statuses(status, plan):
        overview[instance_status] += 1
    return overview


def _planned_state(plan: Plan, now: dt.datetime) -> tuple[str, Optional[dt.datetime], Optional[dict]]:
    """(status, completeTime, errorInformation) the plan gives at ``now``."""
    if plan.forced is not None and now >= plan.forced[1]:
        return plan.forced
    if plan.complete_at is None or now < plan.complete_at:
        return ("InProgress" if now >= plan.in_progress_at else "Created"), None, None
    if not (plan.ready_wait and plan.outcome == "Succeeded"):
        return plan.outcome, plan.complete_at, plan.error
    # blue/green, replacement fleet installed: Ready until continued, then rerouting
    if plan.continued_at is None:
        return "Ready", None, None
    done = plan.continued_at + dt.timedelta(seconds=plan.reroute_seconds)
    if now >= done:
        return "Succeeded", done, None
    return "InProgress", None, None


def refresh(deployment: Any, now: dt.datetime) -> None:
    """Recompute status/times/overview of one deployment from its plan (idempotent)."""
    plan: Optional[Plan] = getattr(deployment, "_xd_plan", None)
    if plan is None:
        return
    status, end, error = _planned_state(plan, now)
    started = plan.in_progress_at <= (end or now)
    if started:
        start = plan.in_progress_at
    elif status in ("Succeeded", "Failed"):
        start = end  # completed through the control API before it "started"
    else:
        start = None
    deployment.status = status
    deployment.start_time = start
    deployment.complete_time = end
    deployment.deployment_overview = _overview(status, plan)
    deployment._xd_error = error


# --------------------------------------------------------------------------- backend ops


class _Index:
    """Per backend: every deployment by (application, group) in creation order, and per
    group the *pending* ones, whose status may still change with time (not final yet).
    A call refreshes only the groups it touches, and in them only the pending
    deployments, so its cost does not grow with the number of deployments the backend
    has ever made."""

    def __init__(self) -> None:
        self.by_group: dict[tuple[str, str], list] = {}
        self.pending: dict[tuple[str, str], list] = {}
        self.count = 0

    def add(self, deployment: Any) -> None:
        key = (deployment.application_name, deployment.deployment_group_name)
        self.by_group.setdefault(key, []).append(deployment)
        if deployment.status not in FINAL_STATUSES:
            self.pending.setdefault(key, []).append(deployment)
        self.count += 1


def _index(backend: Any) -> _Index:
    """The backend's index, brought up to date. moto keeps ``backend.deployments`` in
    creation order and only ever adds to it, so deployments made since the last look
    are its last entries; anything else (a reset) rebuilds the index."""
    index: Optional[_Index] = getattr(backend, "_xd_index", None)
    total = len(backend.deployments)
    if index is None or index.count > total:
        index = _Index()
        backend._xd_index = index
    if index.count < total:
        new = list(itertools.islice(reversed(backend.deployments.values()), total - index.count))
        for deployment in reversed(new):
            index.add(deployment)
    return index


def _deployments_in_group(backend: Any, application: str, group: str) -> list:
    """The group's deployments, in creation order."""
    return list(_index(backend).by_group.get((application, group), ()))


def _rollback_wanted_on_failure(deployment: Any) -> bool:
    config = deployment.auto_rollback_configuration or {}
    return bool(config.get("enabled")) and "DEPLOYMENT_FAILURE" in (config.get("events") or [])


def _refresh_pending(backend: Any, key: tuple[str, str], now: dt.datetime) -> None:
    """Refresh a group's pending deployments in creation order, materialising automatic
    rollbacks of failed ones (a rollback joins the group's pending list and is refreshed
    in the same pass); deployments that reached a final status leave the list."""
    index = _index(backend)
    pending = index.pending.get(key)
    if not pending:
        return
    position = 0
    while position < len(pending):
        deployment = pending[position]
        position += 1
        refresh(deployment, now)
        plan: Optional[Plan] = getattr(deployment, "_xd_plan", None)
        if (
            plan is not None
            and not plan.rollback_handled
            and deployment.status == "Failed"
            and plan.forced is None
            and _rollback_wanted_on_failure(deployment)
        ):
            start_rollback(backend, deployment, deployment.complete_time, now)
            _index(backend)  # the rollback is appended to ``pending``
    still = [d for d in pending
             if getattr(d, "_xd_plan", None) is not None and d.status not in FINAL_STATUSES]
    if still:
        index.pending[key] = still
    else:
        index.pending.pop(key, None)


def refresh_group(backend: Any, application: str, group: str,
                  now: Optional[dt.datetime] = None) -> None:
    """Bring one group's deployments up to ``now`` (see ``_refresh_pending``)."""
    with LOCK:
        _refresh_pending(backend, (application, group), now or utcnow())


def refresh_deployments(backend: Any, deployment_ids: Any,
                        now: Optional[dt.datetime] = None) -> None:
    """Bring the groups of these deployments up to ``now`` (unknown ids are skipped)."""
    now = now or utcnow()
    with LOCK:
        keys = []
        for deployment_id in deployment_ids or ():
            deployment = backend.deployments.get(deployment_id)
            if deployment is not None:
                key = (deployment.application_name, deployment.deployment_group_name)
                if key not in keys:
                    keys.append(key)
        for key in keys:
            _refresh_pending(backend, key, now)


def refresh_all(backend: Any, now: Optional[dt.datetime] = None) -> None:
    """Refresh every pending deployment of a backend, group by group."""
    now = now or utcnow()
    with LOCK:
        for key in list(_index(backend).pending):
            _refresh_pending(backend, key, now)


def _last_successful_revision(backend: Any, application: str, group: str, before: Any = None):
    candidates = [
        d
        for d in _deployments_in_group(backend, application, group)
        if d.status == "Succeeded" and d is not before
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda d: d.complete_time or d.create_time).revision


def start_rollback(backend: Any, triggering: Any, at: dt.datetime, now: dt.datetime) -> None:
    """Roll ``triggering`` back to the group's last successful revision (like AWS)."""
    plan: Plan = triggering._xd_plan
    plan.rollback_handled = True
    revision = getattr(triggering, "_xd_previous_revision", None)
    if not revision:
        plan.rollback_info = {
            "rollbackMessage": "Automatic rollback was not performed because no "
            "previous successful revision exists for the deployment group."
        }
        return
    rollback = _create_internal(
        backend,
        triggering.application_name,
        triggering.deployment_group_name,
        revision,
        creator="codeDeployRollback",
        description=f"Rollback of deployment {triggering.deployment_id}",
        at=at,
        deployment_config_name=triggering.deployment_config_name,
    )
    deployment_id = rollback.deployment_id
    rollback._xd_previous_revision = triggering.revision
    rollback._xd_plan.rollback_info = {
        "rollbackTriggeringDeploymentId": triggering.deployment_id,
        "rollbackMessage": f"Rollback of deployment {triggering.deployment_id}",
    }
    plan.rollback_info = {
        "rollbackDeploymentId": deployment_id,
        "rollbackMessage": f"Deployment {triggering.deployment_id} was rolled back by "
        f"deployment {deployment_id}",
    }
    refresh(rollback, now)


def _create_internal(
    backend: Any,
    application: str,
    group: str,
    revision: dict,
    *,
    creator: str,
    description: str,
    at: dt.datetime,
    deployment_config_name: Optional[str] = None,
) -> Any:
    """A deployment CodeDeploy starts by itself (``creator`` other than ``user``): it
    always succeeds, with the group's delays counted from ``at``."""
    # moto's own create_deployment, without the one-active-per-group check (callers
    # have made sure the group is free); set by codedeploy_api.install.
    deployment_id = backend._xd_create_unchecked(
        application_name=application,
        deployment_group_name=group,
        revision=revision,
        deployment_config_name=deployment_config_name,
        description=description,
    )
    deployment = backend.deployments[deployment_id]
    deployment.creator = creator
    deployment.create_time = at
    behaviour = BEHAVIOURS.get(backend.account_id, application, group)
    deployment._xd_plan = make_plan(behaviour, at, always_succeed=True,
                                    style=style_of(deployment.deployment_group))
    deployment._xd_plan.rollback_handled = True
    _index(backend)
    return deployment


# AWS's DeploymentCreator values for deployments CodeDeploy starts on its own behalf
# when the fleet changes (see start_fleet_deployment).
FLEET_CREATORS = ("autoscaling", "CodeDeployAutoUpdate")


class GroupBusy(Exception):
    """The group cannot take the deployment now (control API answers 409)."""


def start_fleet_deployment(backend: Any, application: str, group: str, creator: str) -> Any:
    """Deploy the group's last successful revision the way CodeDeploy does when the
    fleet changes: ``autoscaling`` (an Auto Scaling scale-out launched instances) or
    ``CodeDeployAutoUpdate`` (a follow-on deployment that updates outdated instances).
    Raises GroupBusy when the group has an active deployment or no successful one,
    moto's Application/DeploymentGroupDoesNotExistException for unknown names."""
    if creator not in FLEET_CREATORS:
        raise ValueError(f"creator must be one of {FLEET_CREATORS}, got {creator!r}")
    with LOCK:
        now = utcnow()
        backend.get_deployment_group(application, group)  # ...DoesNotExistException
        _refresh_pending(backend, (application, group), now)
        deployments = _deployments_in_group(backend, application, group)
        active = [d for d in deployments if d.status in ACTIVE_STATUSES]
        if active:
            raise GroupBusy(f"deployment group {group} has an active deployment "
                            f"{active[0].deployment_id}")
        succeeded = [d for d in deployments if d.status == "Succeeded"]
        if not succeeded:
            raise GroupBusy(f"deployment group {group} has no successful deployment to "
                            "deploy to new instances")
        root = max(succeeded, key=lambda d: d.complete_time or d.create_time)
        if creator == "autoscaling":
            description = (f"Deployment of the last successful revision to instances "
                           f"launched by Auto Scaling in deployment group {group}")
        else:
            description = (f"Automatic update of outdated instances in deployment group "
                           f"{group} to the revision of deployment {root.deployment_id}")
        deployment = _create_internal(
            backend, application, group, root.revision,
            creator=creator, description=description, at=now,
            deployment_config_name=root.deployment_config_name,
        )
        deployment._xd_previous_revision = root.revision
        if creator == "CodeDeployAutoUpdate":
            # API Reference, RelatedDeployments: both directions are reported.
            deployment.related_deployments = {
                "autoUpdateOutdatedInstancesRootDeploymentId": root.deployment_id
            }
            root.related_deployments = dict(root.related_deployments or {})
            root.related_deployments.setdefault(
                "autoUpdateOutdatedInstancesDeploymentIds", []
            ).append(deployment.deployment_id)
        refresh(deployment, now)
        return deployment


def stop_deployment(backend: Any, deployment_id: str, auto_rollback_enabled: bool) -> None:
    from moto.codedeploy.exceptions import CodeDeployException

    with LOCK:
        now = utcnow()
        refresh_deployments(backend, [deployment_id], now)
        deployment = backend.get_deployment(deployment_id)  # DeploymentDoesNotExistException
        if deployment.status not in ACTIVE_STATUSES:
            raise CodeDeployException(
                "DeploymentAlreadyCompletedException",
                f"Deployment {deployment_id} has already completed",
            )
        plan: Plan = deployment._xd_plan
        plan.forced = ("Stopped", now, dict(MANUAL_STOP))
        refresh(deployment, now)
        if auto_rollback_enabled:
            start_rollback(backend, deployment, now, now)
        else:
            plan.rollback_handled = True


READY_WAIT = "READY_WAIT"
TERMINATION_WAIT = "TERMINATION_WAIT"


def continue_deployment(backend: Any, deployment_id: str, wait_type: Optional[str]) -> None:
    """ContinueDeployment: a blue/green deployment waiting in Ready starts rerouting
    traffic now. Errors as the API Reference lists them for ContinueDeployment."""
    from moto.codedeploy.exceptions import CodeDeployException

    wait_type = wait_type or READY_WAIT
    with LOCK:
        now = utcnow()
        refresh_deployments(backend, [deployment_id], now)
        deployment = backend.get_deployment(deployment_id)  # DeploymentDoesNotExistException
        if wait_type not in (READY_WAIT, TERMINATION_WAIT):
            raise CodeDeployException("InvalidDeploymentWaitTypeException",
                                      f"The wait type {wait_type} is invalid.")
        if deployment.status not in ACTIVE_STATUSES:
            raise CodeDeployException("DeploymentAlreadyCompletedException",
                                      f"Deployment {deployment_id} has already completed")
        plan: Plan = deployment._xd_plan
        if not plan.blue_green:
            raise CodeDeployException(
                "UnsupportedActionForDeploymentTypeException",
                f"Deployment {deployment_id} is an in-place deployment; ContinueDeployment "
                "applies to blue/green deployments only.")
        if wait_type == TERMINATION_WAIT:
            # The emulator has no termination wait: blue instances go when traffic is
            # rerouted, so no deployment is ever waiting for it.
            raise CodeDeployException(
                "InvalidDeploymentWaitTypeException",
                f"Deployment {deployment_id} is not waiting for the termination of its "
                "original instances.")
        if deployment.status != "Ready":
            raise CodeDeployException(
                "DeploymentIsNotInReadyStateException",
                f"Deployment {deployment_id} is in {deployment.status} state, not Ready.")
        plan.continued_at = now
        refresh(deployment, now)


def force_complete(
    backend: Any,
    deployment_id: str,
    status: str,
    error_code: Optional[str] = None,
    error_message: Optional[str] = None,
) -> Any:
    """Finish an active deployment now (control API). Returns the deployment."""
    if status not in ("Succeeded", "Failed"):
        raise ValueError("status must be Succeeded or Failed")
    with LOCK:
        now = utcnow()
        refresh_deployments(backend, [deployment_id], now)
        deployment = backend.get_deployment(deployment_id)
        if deployment.status not in ACTIVE_STATUSES:
            raise ValueError(
                f"deployment {deployment_id} is already {deployment.status}"
            )
        error = None
        if status == "Failed":
            error = {
                "code": error_code or DEFAULT_ERROR_CODE,
                "message": error_message or DEFAULT_ERROR_MESSAGE,
            }
        plan: Plan = deployment._xd_plan
        plan.forced = (status, now, error)
        refresh(deployment, now)
        if status == "Failed" and _rollback_wanted_on_failure(deployment):
            start_rollback(backend, deployment, now, now)
        else:
            plan.rollback_handled = True
        return deployment
