"""Gap (c), deployment targets: which instances a deployment touched and how each fared.

What moto 5.2.5 does: no ListDeploymentTargets and no BatchGetDeploymentTargets (the
request ends in moto's NotImplementedError); deployments have no instances at all.

What this module models, for EC2/on-premises (``Server``) deployments:

- every deployment has ``instanceCount`` instance targets (the group's behaviour when
  the deployment was created); their ids look like EC2's (``i-`` + 17 hex digits) and
  are derived from the deployment id, so they are stable across calls;
- each target's status comes from ``codedeploy_lifecycle.instance_statuses`` (the same
  function that counts deploymentOverview, so the two always agree): all Pending /
  InProgress / Ready / Succeeded / Skipped like the deployment, except that in a
  deployment that ended ``Failed`` the first ``failedInstances`` instances failed and
  the others succeeded;
- lifecycle events as the CodeDeploy agent reports them for an in-place deployment
  (ApplicationStop, DownloadBundle, BeforeInstall, Install, AfterInstall,
  ApplicationStart, ValidateService; blue/green replacement instances add
  BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic and carry ``instanceLabel``
  ``Green``). On a failed instance the events before ``failedLifecycleEvent`` Succeeded,
  that one Failed with ``ScriptFailed`` diagnostics (script, message, a log tail that
  contains secret-looking lines: ``LOG_TAIL_SECRETS``, so the operator's masking can be
  tested), the later ones Skipped;
- ListDeploymentTargets (``targetFilters`` TargetStatus / ServerInstanceLabel, pages of
  ``PAGE_SIZE`` ids with an opaque ``nextToken``) and BatchGetDeploymentTargets (at
  most ``MAX_BATCH`` ids), with the errors the API Reference lists for them.

The operations are wired into moto by ``codedeploy_api``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from typing import Any, Optional

from .codedeploy_behaviour import HOOK_SCRIPTS
from .codedeploy_lifecycle import LOCK, Plan, instance_statuses, refresh_deployments, utcnow

PAGE_SIZE = 10  # AWS does not document its page size; a small one makes paging visible
MAX_BATCH = 25  # API Reference, BatchGetDeploymentTargets: "The maximum number ... is 25"

IN_PLACE_EVENTS = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install",
                   "AfterInstall", "ApplicationStart", "ValidateService")
TRAFFIC_EVENTS = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
TARGET_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown", "Ready")
INSTANCE_LABELS = ("Blue", "Green")

# Secret-looking strings in the log tail of a failed lifecycle event. Whatever the
# operator shows of a failure (status, Events, logs) must not contain them.
LEAKED_ACCESS_KEY = "AKIAXDLEAKEDLOGTAIL0"
LEAKED_PASSWORD = "hunter2"
LOG_TAIL_SECRETS = (LEAKED_ACCESS_KEY, LEAKED_PASSWORD)

_SUCCESS_DIAGNOSTICS = {"errorCode": "Success", "scriptName": "", "message": "Succeeded",
                        "logTail": ""}


def _error(code: str, message: str) -> Exception:
    from moto.codedeploy.exceptions import CodeDeployException

    return CodeDeployException(code, message)


def instance_id(deployment_id: str, index: int) -> str:
    return "i-" + hashlib.sha256(f"{deployment_id}/{index}".encode()).hexdigest()[:17]


def failure_diagnostics(event: str) -> dict:
    script = HOOK_SCRIPTS[event]
    log_tail = "\n".join([
        f"LifecycleEvent - {event}",
        f"Script - {script}",
        "[stdout]Loading environment from /etc/webapp/env",
        f"[stderr]+ export AWS_SECRET_ACCESS_KEY={LEAKED_ACCESS_KEY}",
        f"[stderr]+ psql 'host=db.internal user=webapp password={LEAKED_PASSWORD}' -c 'select 1'",
        '[stderr]psql: error: connection to server at "db.internal" (10.0.3.7), port 5432 '
        "failed: Connection refused",
        "[stderr]Job for nginx.service failed because the control process exited with error "
        "code.",
    ]) + "\n"
    return {
        "errorCode": "ScriptFailed",
        "scriptName": script,
        "message": f"Script at specified location: {script} run as user root failed with "
                   "exit code 1",
        "logTail": log_tail,
    }


def _event_statuses(plan: Plan, target_status: str) -> list[tuple[str, str]]:
    """(lifecycle event, status) of one instance."""
    events = IN_PLACE_EVENTS + (TRAFFIC_EVENTS if plan.blue_green else ())
    installed = len(IN_PLACE_EVENTS)  # install events come first, traffic events last
    if target_status == "Failed":
        failing = events.index(plan.failed_event)
        statuses = (["Succeeded"] * failing + ["Failed"]
                    + ["Skipped"] * (len(events) - failing - 1))
    elif target_status == "Ready":
        statuses = ["Succeeded"] * installed + ["Pending"] * (len(events) - installed)
    elif target_status == "InProgress":
        done = installed if plan.continued_at is not None else 1  # rerouting or installing
        statuses = ["Succeeded"] * done + ["InProgress"] + ["Pending"] * (len(events) - done - 1)
    else:  # Pending, Succeeded, Skipped: every event alike
        statuses = [target_status] * len(events)
    return list(zip(events, statuses))


def _lifecycle_events(plan: Plan, target_status: str, begin: dt.datetime,
                      end: dt.datetime) -> list[dict]:
    """Events with times: finished ones share [begin, end] evenly, in order."""
    pairs = _event_statuses(plan, target_status)
    finished = sum(1 for _, status in pairs if status in ("Succeeded", "Failed"))
    step = (end - begin) / max(finished, 1)
    cursor = begin
    events = []
    for name, status in pairs:
        event: dict[str, Any] = {"lifecycleEventName": name, "status": status}
        if status in ("Succeeded", "Failed"):
            event.update(startTime=cursor, endTime=cursor + step)
            event["diagnostics"] = (failure_diagnostics(name) if status == "Failed"
                                    else dict(_SUCCESS_DIAGNOSTICS))
            cursor += step
        elif status == "InProgress":
            event["startTime"] = cursor
        events.append(event)
    return events


def _span(deployment: Any, plan: Plan, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When the instances' work began and (so far) ended."""
    begin = deployment.start_time or deployment.create_time
    if deployment.complete_time is not None:
        return begin, deployment.complete_time
    if deployment.status == "Ready" and plan.complete_at is not None:
        return begin, plan.complete_at
    return begin, max(begin, now)


def _started_deployment(backend: Any, deployment_id: Optional[str]) -> Any:
    if not deployment_id:
        raise _error("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
    refresh_deployments(backend, [deployment_id])
    deployment = backend.get_deployment(deployment_id)  # DeploymentDoesNotExistException
    if deployment.status in ("Created", "Queued"):
        raise _error("DeploymentNotStartedException",
                     f"The deployment {deployment_id} has not started.")
    return deployment


def _targets(backend: Any, deployment: Any) -> list[dict]:
    """Every instance target of a started deployment, in index order."""
    plan: Optional[Plan] = getattr(deployment, "_xd_plan", None)
    if plan is None:
        return []
    begin, end = _span(deployment, plan, utcnow())
    targets = []
    for index, status in enumerate(instance_statuses(deployment.status, plan)):
        target_id = instance_id(deployment.deployment_id, index)
        events = _lifecycle_events(plan, status, begin, end)
        times = [e[k] for e in events for k in ("startTime", "endTime") if k in e]
        instance = {
            "deploymentId": deployment.deployment_id,
            "targetId": target_id,
            "targetArn": f"arn:aws:ec2:{backend.region_name}:{backend.account_id}:"
                         f"instance/{target_id}",
            "status": status,
            "lastUpdatedAt": max(times) if times else begin,
            "lifecycleEvents": events,
        }
        if plan.blue_green:
            instance["instanceLabel"] = "Green"  # the replacement fleet
        targets.append({"deploymentTargetType": "InstanceTarget", "instanceTarget": instance})
    return targets


def _encode_token(deployment_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"xd1:{deployment_id}:{offset}".encode()).decode()


def _decode_token(token: str, deployment_id: str) -> int:
    try:
        tag, token_deployment, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if tag != "xd1" or token_deployment != deployment_id or int(offset) < 0:
            raise ValueError(token)
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _error("InvalidNextTokenException", "The next token was specified in an invalid format.")


def _filter(targets: list[dict], filters: Optional[dict], blue_green: bool) -> list[dict]:
    for name, values in (filters or {}).items():
        values = list(values or [])
        if name == "TargetStatus":
            bad = [v for v in values if v not in TARGET_STATUSES]
            if bad:
                raise _error("InvalidInstanceStatusException",
                             f"The specified target status {bad[0]} is invalid.")
            targets = [t for t in targets if t["instanceTarget"]["status"] in values]
        elif name == "ServerInstanceLabel":
            if not blue_green:
                raise _error("InvalidDeploymentInstanceTypeException",
                             "Instance labels are supported for blue/green deployments only.")
            bad = [v for v in values if v not in INSTANCE_LABELS]
            if bad:
                raise _error("InvalidInstanceTypeException",
                             f"The specified instance label {bad[0]} is invalid.")
            targets = [t for t in targets if t["instanceTarget"].get("instanceLabel") in values]
        else:
            raise _error("InvalidTargetFilterNameException",
                         f"The target filter name {name} is invalid.")
    return targets


def list_deployment_targets(backend: Any, deployment_id: Optional[str],
                            next_token: Optional[str] = None,
                            target_filters: Optional[dict] = None) -> tuple[list[str], Optional[str]]:
    """(target ids of this page, nextToken or None)."""
    with LOCK:
        deployment = _started_deployment(backend, deployment_id)
        plan: Optional[Plan] = getattr(deployment, "_xd_plan", None)
        targets = _filter(_targets(backend, deployment), target_filters,
                          bool(plan and plan.blue_green))
    offset = _decode_token(next_token, deployment.deployment_id) if next_token else 0
    page = [t["instanceTarget"]["targetId"] for t in targets[offset:offset + PAGE_SIZE]]
    more = offset + PAGE_SIZE < len(targets)
    return page, _encode_token(deployment.deployment_id, offset + PAGE_SIZE) if more else None


def batch_get_deployment_targets(backend: Any, deployment_id: Optional[str],
                                 target_ids: Optional[list]) -> list[dict]:
    if not target_ids:
        raise _error("DeploymentTargetIdRequiredException", "A deployment target ID was not provided.")
    if len(target_ids) > MAX_BATCH:
        raise _error("DeploymentTargetListSizeExceededException",
                     f"The maximum number of deployment target IDs you can specify is "
                     f"{MAX_BATCH}; {len(target_ids)} were given.")
    with LOCK:
        deployment = _started_deployment(backend, deployment_id)
        by_id = {t["instanceTarget"]["targetId"]: t for t in _targets(backend, deployment)}
    missing = [t for t in target_ids if t not in by_id]
    if missing:
        raise _error("DeploymentTargetDoesNotExistException",
                     f"The target {missing[0]} does not belong to deployment {deployment_id}.")
    return [by_id[t] for t in target_ids]
