"""Gap (d): the emulator's control API — plain HTTP + JSON, no signing.

All paths live under ``/_crossdeploy`` on the same port as the AWS endpoint; moto never
sees them (``counters.RecordingMiddleware`` routes them here).

====== ==================================== ==============================================
GET    /_crossdeploy/health                 ``{"ok": true}``
GET    /_crossdeploy/world                  the JSON line printed at startup
GET    /_crossdeploy/calls                  list of recorded AWS calls; filters (query):
                                            ``service``, ``operation``,
                                            ``principal_contains``, ``account``,
                                            ``outcome``, ``since`` (seq number)
GET    /_crossdeploy/counters               ``{"sts:AssumeRole": n, ...}`` over the same
                                            filters
POST   /_crossdeploy/reset-counters         forget all recorded calls (global: tests that
                                            run in parallel should filter instead)
GET    /_crossdeploy/codedeploy/behaviour   ``?account=&applicationName=&deploymentGroupName=``
POST   /_crossdeploy/codedeploy/behaviour   set the behaviour of deployments created
                                            afterwards in a group (or the default when no
                                            group is given)
POST   /_crossdeploy/codedeploy/complete    finish an active (e.g. held) deployment
POST   /_crossdeploy/codedeploy/scale-out   start an Auto Scaling scale-out deployment
                                            (creator ``autoscaling``) of the group's last
                                            successful revision; 409 when the group is
                                            busy or has no successful deployment
POST   /_crossdeploy/codedeploy/agent-update  the same with creator ``CodeDeployAutoUpdate``
POST   /_crossdeploy/codedeploy/deployment-groups  create many deployment groups at once,
                                            in-process (a benchmark's 10,000 groups)
GET    /_crossdeploy/codedeploy/deployments every deployment of an application (or one
                                            group), as CodeDeploy has them now
GET    /_crossdeploy/stats                  the emulator process (pid, CPU, memory) and
                                            the size of its records
GET    /_crossdeploy/faults                 ``{"rules": [...]}`` with how often each matched
                                            and fired
POST   /_crossdeploy/faults                 add fault rules (``faults``); an empty list
                                            clears them all
DELETE /_crossdeploy/faults[/{id}]          clear all rules, or one
====== ==================================== ==============================================

Behaviour body: ``{"account", "applicationName", "deploymentGroupName", "mode":
"succeed"|"fail"|"hold", "errorCode", "errorMessage", "inProgressAfterSeconds",
"completeAfterSeconds", "instanceCount", "failedInstances": n|"all",
"failedLifecycleEvent"}`` — omitted fields keep their current value.

Complete body: ``{"account", "deploymentId", "status": "Succeeded"|"Failed",
"errorCode", "errorMessage", "region"}``.

Scale-out / agent-update body: ``{"account", "applicationName", "deploymentGroupName",
"region", "creator": "autoscaling"|"CodeDeployAutoUpdate"}`` (creator defaults to the
endpoint's); answer ``{"deploymentId", "status", "applicationName",
"deploymentGroupName", "creator", "description", "revision"}``.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import threading
import time
from typing import Any, Callable, Iterable, Optional

from . import CONTROL_PREFIX, codedeploy_behaviour, codedeploy_lifecycle, faults
from .counters import CALLS

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"

_world: dict = {}


def set_world(world: dict) -> None:
    _world.clear()
    _world.update(world)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _json_response(start_response: Callable, status: int, payload: Any) -> Iterable[bytes]:
    body = json.dumps(payload, default=str).encode("utf-8")
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
              409: "Conflict"}.get(status, "Error")
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _read_json_any(environ: dict) -> Any:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError as e:
        raise _BadRequest(f"body is not JSON: {e}")


def _read_json(environ: dict) -> dict:
    doc = _read_json_any(environ)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise _BadRequest("body must be a JSON object")
    return doc


def _query(environ: dict) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _call_filters(query: dict[str, str]) -> dict:
    filters: dict[str, Any] = {
        k: query[k]
        for k in ("service", "operation", "principal_contains", "account", "outcome", "app")
        if query.get(k)
    }
    if query.get("since"):
        try:
            filters["since"] = int(query["since"])
        except ValueError:
            raise _BadRequest("since must be an integer")
    return filters


def _codedeploy_backend(account: str, region: str) -> Any:
    from moto.codedeploy.models import codedeploy_backends

    return codedeploy_backends[account][region]


def _deployment_summary(deployment: Any) -> dict:
    return {
        "deploymentId": deployment.deployment_id,
        "status": deployment.status,
        "applicationName": deployment.application_name,
        "deploymentGroupName": deployment.deployment_group_name,
    }


def _production_account() -> Optional[str]:
    return (_world.get("accounts") or {}).get("production")


def _behaviour(method: str, environ: dict) -> Any:
    doc = _read_json(environ) if method == "POST" else dict(_query(environ))
    account = doc.pop("account", None) or _production_account()
    application = doc.pop("applicationName", None)
    group = doc.pop("deploymentGroupName", None)
    if (application is None) != (group is None):
        raise _BadRequest("give both applicationName and deploymentGroupName, or neither")
    registry = codedeploy_behaviour.BEHAVIOURS
    if method == "GET":
        current = registry.get(account, application, group) if group else registry.default
    else:
        try:
            current = registry.update(doc, account=account, application=application, group=group)
        except (ValueError, TypeError) as e:
            raise _BadRequest(str(e))
        log.info("codedeploy behaviour for %s/%s/%s: mode=%s in-progress-after=%ss "
                 "complete-after=%ss", account, application or "*", group or "*",
                 current.mode, current.in_progress_after, current.complete_after)
    scope = {"account": account, "applicationName": application, "deploymentGroupName": group}
    return {"scope": scope if group else "default", "behaviour": current.to_json()}


def _complete(environ: dict) -> Any:
    from moto.codedeploy.exceptions import DeploymentDoesNotExistException

    doc = _read_json(environ)
    account = doc.get("account") or _production_account()
    deployment_id = doc.get("deploymentId")
    if not deployment_id:
        raise _BadRequest("deploymentId is required")
    backend = _codedeploy_backend(account, doc.get("region") or DEFAULT_REGION)
    try:
        deployment = codedeploy_lifecycle.force_complete(
            backend,
            deployment_id,
            doc.get("status", "Succeeded"),
            error_code=doc.get("errorCode"),
            error_message=doc.get("errorMessage"),
        )
    except DeploymentDoesNotExistException:
        raise _BadRequest(f"no deployment {deployment_id} in account {account}", 404)
    except ValueError as e:
        raise _BadRequest(str(e), 409)
    return _deployment_summary(deployment)


def _fleet_deployment(environ: dict, default_creator: str) -> Any:
    from moto.codedeploy.exceptions import CodeDeployException

    doc = _read_json(environ)
    account = doc.get("account") or _production_account()
    application_name = doc.get("applicationName")
    group = doc.get("deploymentGroupName")
    if not (application_name and group):
        raise _BadRequest("applicationName and deploymentGroupName are required")
    creator = doc.get("creator") or default_creator
    backend = _codedeploy_backend(account, doc.get("region") or DEFAULT_REGION)
    try:
        deployment = codedeploy_lifecycle.start_fleet_deployment(
            backend, application_name, group, creator
        )
    except ValueError as e:
        raise _BadRequest(str(e))
    except codedeploy_lifecycle.GroupBusy as e:
        raise _BadRequest(str(e), 409)
    except CodeDeployException as e:  # unknown application or group
        raise _BadRequest(e.message, 404)
    log.info("codedeploy: %s deployment %s in %s/%s/%s", creator, deployment.deployment_id,
             account, application_name, group)
    return {
        **_deployment_summary(deployment),
        "creator": deployment.creator,
        "description": deployment.description,
        "revision": deployment.revision,
    }


def _create_groups(environ: dict) -> Any:
    """Many deployment groups of one application, straight on the backend (no SigV4,
    no IAM, no call records): what a benchmark needs before its first object."""
    from moto.codedeploy.exceptions import CodeDeployException

    doc = _read_json(environ)
    account = doc.get("account") or _production_account()
    application = doc.get("applicationName")
    names = doc.get("deploymentGroupNames")
    if not application or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _BadRequest("applicationName and deploymentGroupNames (a list of names) are required")
    codedeploy = _world.get("codedeploy") or {}
    service_role = doc.get("serviceRoleArn") or codedeploy.get("serviceRoleArn")
    config = doc.get("deploymentConfigName") or codedeploy.get("deploymentConfigName")
    backend = _codedeploy_backend(account, doc.get("region") or DEFAULT_REGION)
    created = existing = 0
    with codedeploy_lifecycle.LOCK:
        for name in names:
            if name in backend.deployment_groups.get(application, {}):
                existing += 1
                continue
            try:
                backend.create_deployment_group(
                    application_name=application, deployment_group_name=name,
                    deployment_config_name=config, ec2_tag_filters=None,
                    on_premises_instance_tag_filters=None, auto_scaling_groups=None,
                    service_role_arn=service_role)
            except CodeDeployException as e:  # unknown application
                raise _BadRequest(e.message, 404)
            created += 1
    log.info("codedeploy: %d deployment groups created in %s/%s (%d existed)", created,
             account, application, existing)
    return {"created": created, "existing": existing}


def _list_deployments(environ: dict) -> Any:
    query = _query(environ)
    account = query.get("account") or _production_account()
    application = query.get("applicationName")
    if not application:
        raise _BadRequest("applicationName is required")
    backend = _codedeploy_backend(account, query.get("region") or DEFAULT_REGION)
    group = query.get("deploymentGroupName")
    with codedeploy_lifecycle.LOCK:
        if group:
            codedeploy_lifecycle.refresh_group(backend, application, group)
            deployments = codedeploy_lifecycle._deployments_in_group(backend, application, group)
        else:
            codedeploy_lifecycle.refresh_all(backend)
            deployments = [d for d in backend.deployments.values()
                           if d.application_name == application]
        return {"deployments": [{
            **_deployment_summary(d),
            "creator": d.creator,
            "description": d.description,
            "revision": d.revision,
            "createTime": d.create_time,
            "completeTime": d.complete_time,
        } for d in deployments]}


def _stats() -> Any:
    from moto.codedeploy.models import codedeploy_backends

    rss_kib = None
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss_kib = int(line.split()[1])
    except OSError:
        pass
    deployments = pending = 0
    with codedeploy_lifecycle.LOCK:
        for account in list(codedeploy_backends.keys()):
            backend = codedeploy_backends[account].get(DEFAULT_REGION)
            if backend is not None:
                deployments += len(backend.deployments)
                index = getattr(backend, "_xd_index", None)
                pending += sum(len(p) for p in index.pending.values()) if index else 0
    return {
        "pid": os.getpid(),
        "cpuSeconds": round(time.process_time(), 3),
        "rssKiB": rss_kib,
        "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "threads": threading.active_count(),
        "calls": CALLS.stats(),
        "deployments": deployments,
        "pendingDeployments": pending,
    }


def _faults(method: str, route: str, environ: dict) -> Any:
    rule_id = route[len("/faults/"):] if route.startswith("/faults/") else None
    if method == "GET" and rule_id is None:
        return {"rules": faults.RULES.list()}
    if method == "DELETE":
        cleared = faults.RULES.clear(rule_id)
        if rule_id is not None and not cleared:
            raise _BadRequest(f"no fault rule {rule_id}", 404)
        return {"cleared": cleared}
    if method == "POST" and rule_id is None:
        doc = _read_json_any(environ)
        rules = doc.get("rules") if isinstance(doc, dict) and "rules" in doc else doc
        if isinstance(rules, dict):
            rules = [rules]  # a single rule
        if not isinstance(rules, list):
            raise _BadRequest('body must be {"rules": [...]}, a list of rules or one rule')
        if not rules:
            return {"cleared": faults.RULES.clear()}
        try:
            added = faults.RULES.add(rules)
        except (ValueError, TypeError) as e:
            raise _BadRequest(str(e))
        log.info("fault rules added: %s", ", ".join(r.id for r in added))
        return {"rules": [r.to_json() for r in added]}
    raise _BadRequest(f"{method} not allowed on {route}", 405)


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """The control API as a WSGI application."""
    method = environ.get("REQUEST_METHOD", "GET")
    route = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX):].rstrip("/") or "/"
    try:
        if route == "/health" and method == "GET":
            return _json_response(start_response, 200, {"ok": True})
        if route == "/world" and method == "GET":
            return _json_response(start_response, 200, _world)
        if route == "/calls" and method == "GET":
            return _json_response(start_response, 200, CALLS.query(**_call_filters(_query(environ))))
        if route == "/counters" and method == "GET":
            return _json_response(start_response, 200, CALLS.counters(**_call_filters(_query(environ))))
        if route == "/reset-counters" and method == "POST":
            return _json_response(start_response, 200, {"dropped": CALLS.reset()})
        if route == "/codedeploy/behaviour" and method in ("GET", "POST"):
            return _json_response(start_response, 200, _behaviour(method, environ))
        if route == "/codedeploy/complete" and method == "POST":
            return _json_response(start_response, 200, _complete(environ))
        if route == "/codedeploy/scale-out" and method == "POST":
            return _json_response(start_response, 200, _fleet_deployment(environ, "autoscaling"))
        if route == "/codedeploy/agent-update" and method == "POST":
            return _json_response(start_response, 200,
                                  _fleet_deployment(environ, "CodeDeployAutoUpdate"))
        if route == "/codedeploy/deployment-groups" and method == "POST":
            return _json_response(start_response, 200, _create_groups(environ))
        if route == "/codedeploy/deployments" and method == "GET":
            return _json_response(start_response, 200, _list_deployments(environ))
        if route == "/stats" and method == "GET":
            return _json_response(start_response, 200, _stats())
        if route == "/faults" or route.startswith("/faults/"):
            return _json_response(start_response, 200, _faults(method, route, environ))
        known = {"/health", "/world", "/calls", "/counters", "/reset-counters",
                 "/codedeploy/behaviour", "/codedeploy/complete", "/codedeploy/scale-out",
                 "/codedeploy/agent-update", "/codedeploy/deployment-groups",
                 "/codedeploy/deployments", "/stats"}
        if route in known:
            return _json_response(start_response, 405, {"error": f"{method} not allowed on {route}"})
        return _json_response(start_response, 404, {"error": f"no control endpoint {route}"})
    except _BadRequest as e:
        return _json_response(start_response, e.status, {"error": str(e)})
