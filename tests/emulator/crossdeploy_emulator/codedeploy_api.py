"""Gap (c), the API: CodeDeploy operations patched into moto (``install``).

What moto 5.2.5 does: UUIDs as deployment ids, no StopDeployment/ContinueDeployment, no
deployment targets, any number of active deployments per group, ``{}`` for
errorInformation/rollbackInfo/previousRevision and for the deployment group's
last*Deployment/targetRevision, and a naive-vs-aware datetime comparison in
ListDeployments' createTimeRange filter.

What ``install`` changes (the lifecycle itself is ``codedeploy_lifecycle``):

- ids like AWS: ``d-`` + 9 upper-case alphanumerics;
- CreateDeployment: ``DeploymentLimitExceededException`` ("The Deployment Group 'G'
  already has an active Deployment 'd-...'") when the group has a deployment in
  Created/Queued/InProgress/Baking/Ready (atomic under concurrent requests); the new
  deployment gets its plan, ``previousRevision`` and, when the request has none, the
  group's ``autoRollbackConfiguration``; moto's Application/DeploymentGroup
  DoesNotExist errors are kept;
- Get/BatchGet/ListDeployments refresh the statuses of the groups they touch first;
  ListDeployments of one group looks at that group's deployments only (moto's walks
  every deployment of the backend) and accepts a tz-aware ``createTimeRange``;
- StopDeployment (new): ``{"status": "Pending", "statusMessage"}``, the deployment
  becomes ``Stopped`` (errorInformation ``MANUAL_STOP``), optional rollback;
  ``DeploymentAlreadyCompletedException`` when it is not active;
- ListDeploymentTargets / BatchGetDeploymentTargets (new): instance targets with
  lifecycle events and diagnostics (``codedeploy_targets``);
- ContinueDeployment (new): a blue/green deployment in ``Ready`` reroutes traffic and
  completes (``codedeploy_lifecycle.continue_deployment``); authorized like every action
  (``codedeploy:ContinueDeployment``, moto's IAM check runs before any action method);
- responses: errorInformation/rollbackInfo/previousRevision filled when known and
  omitted otherwise (an empty struct reads as "present" in the SDKs), as are the other
  fields moto answers with ``{}``/``""``/``[]``; ``deploymentStyle`` defaults to
  IN_PLACE/WITHOUT_TRAFFIC_CONTROL as in AWS; GetDeploymentGroup reports
  lastAttemptedDeployment, lastSuccessfulDeployment, targetRevision and its Auto Scaling
  groups as ``[{name, hook}]`` (moto serializes its list of names as ``[{}]``).

CreateDeployment's ``overrideAlarmConfiguration``, ``updateOutdatedInstancesOnly`` and
``targetInstances`` are stored and echoed by moto already (DeploymentInfo carries all
three); nothing to patch there beyond recording them (``counters``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from . import codedeploy_targets
from .codedeploy_behaviour import BEHAVIOURS
from .codedeploy_lifecycle import (
    ACTIVE_STATUSES,
    LOCK,
    Plan,
    _deployments_in_group,
    _last_successful_revision,
    continue_deployment,
    make_plan,
    new_deployment_id,
    refresh,
    refresh_all,
    refresh_deployments,
    refresh_group,
    stop_deployment,
    style_of,
    utcnow,
)

_installed = False


def _naive_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).replace(tzinfo=None)
    return value


# AWS reports the in-place default when a group was created without a deploymentStyle.
DEFAULT_DEPLOYMENT_STYLE = {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}


def _deployment_style(group: Any) -> dict:
    return {**DEFAULT_DEPLOYMENT_STYLE, **(group.deployment_style or {})}


def _launch_hook_name(group: Any) -> str:
    """Name of the lifecycle hook CodeDeploy puts on a group's Auto Scaling groups."""
    return (f"CodeDeploy-managed-automatic-launch-deployment-hook-"
            f"{group.deployment_group_name}-{group.deployment_group_id}")


def _without_empty(info: dict) -> dict:
    """Drop what moto fills with None, "", {} or [] for fields it does not model
    (externalId, additionalDeploymentStatusInfo, relatedDeployments, alarmConfiguration,
    ec2TagSet, ...): the SDKs read an empty struct or string as "present", AWS omits
    them. Booleans and zero counts are kept."""
    return {k: v for k, v in info.items() if v is not None and v != "" and v != {} and v != []}


def _list_group(backend: Any, application: str, group: str, statuses: list,
                create_time_range: dict) -> list:
    """moto's ListDeployments for one (application, group), over the group's index
    instead of every deployment of the backend; same checks, same order."""
    from moto.codedeploy.exceptions import InvalidTimeRangeException

    start = create_time_range.get("start")
    end = create_time_range.get("end")
    if start is not None and end is not None and start > end:
        raise InvalidTimeRangeException("The start time must be earlier than the end time.")
    if group not in backend.deployment_groups.get(application, {}):
        return []
    return [
        d.deployment_id
        for d in _deployments_in_group(backend, application, group)
        if (not statuses or d.status in statuses)
        and (start is None or d.create_time >= start)
        and (end is None or d.create_time <= end)
    ]


def install() -> None:
    """Patch moto.codedeploy (idempotent). See the module docstring."""
    global _installed
    if _installed:
        return
    from moto.codedeploy import models, responses
    from moto.codedeploy.exceptions import CodeDeployException
    from moto.core.responses import ActionResult, EmptyResult

    # Ids like AWS: create_deployment builds models.DeploymentInfo by module name.
    class DeploymentInfo(models.DeploymentInfo):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.deployment_id = new_deployment_id()

    models.DeploymentInfo = DeploymentInfo

    Backend = models.CodeDeployBackend
    original_create = Backend.create_deployment
    Backend._xd_create_unchecked = original_create  # used by lifecycle rollbacks
    original_get = Backend.get_deployment
    original_batch_get = Backend.batch_get_deployments
    original_list = Backend.list_deployments

    def create_deployment(self: Any, application_name: str, deployment_group_name: str,
                          revision: Any, *args: Any, **kwargs: Any) -> str:
        with LOCK:
            now = utcnow()
            refresh_group(self, application_name, deployment_group_name, now)
            group = self.deployment_groups.get(application_name, {}).get(deployment_group_name)
            if application_name in self.applications and group is not None:
                for d in _deployments_in_group(self, application_name, deployment_group_name):
                    if d.status in ACTIVE_STATUSES:
                        raise CodeDeployException(
                            "DeploymentLimitExceededException",
                            f"The Deployment Group '{deployment_group_name}' already has "
                            f"an active Deployment '{d.deployment_id}'",
                        )
            # moto raises ApplicationDoesNotExist / DeploymentGroupDoesNotExist here.
            deployment_id = original_create(
                self, application_name, deployment_group_name, revision, *args, **kwargs
            )
            deployment = self.deployments[deployment_id]
            group._xd_backend = self  # for GetDeploymentGroup's last*Deployment
            if not deployment.auto_rollback_configuration and group.auto_rollback_configuration:
                deployment.auto_rollback_configuration = group.auto_rollback_configuration
            deployment._xd_previous_revision = _last_successful_revision(
                self, application_name, deployment_group_name, before=deployment
            )
            behaviour = BEHAVIOURS.get(self.account_id, application_name, deployment_group_name)
            deployment._xd_plan = make_plan(behaviour, deployment.create_time,
                                            style=style_of(group))
            refresh(deployment, now)
            return deployment_id

    def get_deployment(self: Any, deployment_id: str) -> Any:
        with LOCK:
            refresh_deployments(self, [deployment_id])
            return original_get(self, deployment_id)

    def batch_get_deployments(self: Any, deployment_ids: list) -> list:
        with LOCK:
            refresh_deployments(self, deployment_ids)
            return original_batch_get(self, deployment_ids)

    def list_deployments(self: Any, application_name: str, deployment_group_name: str,
                         external_id: str, include_only_statuses: list,
                         create_time_range: dict) -> list:
        # moto compares the parsed (tz-aware) range with its naive createTime.
        create_time_range = {k: _naive_utc(v) for k, v in (create_time_range or {}).items()}
        with LOCK:
            if not (application_name and deployment_group_name):
                # moto's own checks and answer (every deployment of the backend)
                refresh_all(self)
                return original_list(self, application_name, deployment_group_name,
                                     external_id, include_only_statuses, create_time_range)
            # One group: moto's filters over that group's deployments only.
            refresh_group(self, application_name, deployment_group_name)
            return _list_group(self, application_name, deployment_group_name,
                               include_only_statuses, create_time_range)

    def stop(self: Any, deployment_id: str, auto_rollback_enabled: bool = False) -> None:
        stop_deployment(self, deployment_id, auto_rollback_enabled)

    Backend.create_deployment = create_deployment
    Backend.get_deployment = get_deployment
    Backend.batch_get_deployments = batch_get_deployments
    Backend.list_deployments = list_deployments
    Backend.stop_deployment = stop

    # Response shape: moto returns {} for errorInformation/rollbackInfo/previousRevision;
    # fill them when known, drop them otherwise (an empty struct reads as "present").
    original_info = responses._deployment_info

    def _deployment_info(deployment: Any) -> dict:
        info = original_info(deployment)
        plan: Optional[Plan] = getattr(deployment, "_xd_plan", None)
        error = getattr(deployment, "_xd_error", None)
        previous = getattr(deployment, "_xd_previous_revision", None)
        for key, value in (
            ("errorInformation", error),
            ("rollbackInfo", plan.rollback_info if plan else None),
            ("previousRevision", previous),
        ):
            if value:
                info[key] = value
            else:
                info.pop(key, None)
        info["deploymentStyle"] = _deployment_style(deployment.deployment_group)
        return _without_empty(info)

    responses._deployment_info = _deployment_info

    # GetDeploymentGroup: moto returns {} for targetRevision/lastSuccessfulDeployment/
    # lastAttemptedDeployment; derive them from the group's deployments.
    original_group_info = responses._deployment_group_info

    def _deployment_group_info(group: Any) -> dict:
        info = original_group_info(group)
        backend = getattr(group, "_xd_backend", None)
        deployments = []
        if backend is not None:
            with LOCK:
                refresh_group(backend, group.application.application_name,
                              group.deployment_group_name)
                deployments = sorted(
                    _deployments_in_group(backend, group.application.application_name,
                                          group.deployment_group_name),
                    key=lambda d: d.create_time,
                )
        attempted = deployments[-1] if deployments else None
        succeeded = [d for d in deployments if d.status == "Succeeded"]
        for key, deployment in (("lastAttemptedDeployment", attempted),
                                ("lastSuccessfulDeployment", succeeded[-1] if succeeded else None)):
            if deployment is None:
                info.pop(key, None)
            else:
                info[key] = {k: v for k, v in {
                    "deploymentId": deployment.deployment_id,
                    "status": deployment.status,
                    "endTime": deployment.complete_time,
                    "createTime": deployment.create_time,
                }.items() if v is not None}
        if attempted is not None:
            info["targetRevision"] = attempted.revision
        else:
            info.pop("targetRevision", None)
        info["deploymentStyle"] = _deployment_style(group)
        # moto keeps the names but the output shape is a list of AutoScalingGroup
        # structures ({name, hook}); serialized as-is they come out as [{}].
        info["autoScalingGroups"] = [
            {"name": name, "hook": _launch_hook_name(group)} for name in group.auto_scaling_groups
        ]
        return _without_empty(info)

    responses._deployment_group_info = _deployment_group_info

    def stop_deployment_response(self: Any) -> Any:
        deployment_id = self._get_param("deploymentId")
        auto_rollback_enabled = bool(self._get_param("autoRollbackEnabled", False))
        self.codedeploy_backend.stop_deployment(deployment_id, auto_rollback_enabled)
        return ActionResult(
            {"status": "Pending", "statusMessage": "Stop request for the deployment is pending"}
        )

    stop_deployment_response.__name__ = "stop_deployment"
    responses.CodeDeployResponse.stop_deployment = stop_deployment_response

    def continue_deployment_response(self: Any) -> Any:
        continue_deployment(self.codedeploy_backend, self._get_param("deploymentId"),
                            self._get_param("deploymentWaitType"))
        return EmptyResult()

    continue_deployment_response.__name__ = "continue_deployment"
    responses.CodeDeployResponse.continue_deployment = continue_deployment_response

    def list_deployment_targets_response(self: Any) -> Any:
        target_ids, next_token = codedeploy_targets.list_deployment_targets(
            self.codedeploy_backend, self._get_param("deploymentId"),
            self._get_param("nextToken"), self._get_param("targetFilters"))
        result: dict = {"targetIds": target_ids}
        if next_token:
            result["nextToken"] = next_token
        return ActionResult(result)

    list_deployment_targets_response.__name__ = "list_deployment_targets"
    responses.CodeDeployResponse.list_deployment_targets = list_deployment_targets_response

    def batch_get_deployment_targets_response(self: Any) -> Any:
        targets = codedeploy_targets.batch_get_deployment_targets(
            self.codedeploy_backend, self._get_param("deploymentId"),
            self._get_param("targetIds"))
        return ActionResult({"deploymentTargets": targets})

    batch_get_deployment_targets_response.__name__ = "batch_get_deployment_targets"
    responses.CodeDeployResponse.batch_get_deployment_targets = batch_get_deployment_targets_response
    _installed = True
