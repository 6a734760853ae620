"""CodeDeploy resource-level permissions, and GetDeploymentConfig.

What moto 5.2.5 does: ``CodeDeployResponse`` has no ``_determine_resource``, so every
CodeDeploy action is authorized against the resource ``"*"``. An identity policy that
names application, deployment group or deployment config ARNs — least privilege, as
AWS's "CodeDeploy permissions reference" describes it — never matches ``"*"``, so every
such call is denied; only ``"Resource": "*"`` policies work. moto also has no
GetDeploymentConfig.

What this patch does (``install``, after ``codedeploy_api`` and before
``protocol_errors``/``counters``/``faults`` wrap moto's authorization):

- each action is authorized against the ARN of its resource, as in the permissions
  reference: ``arn:aws:codedeploy:<region>:<account>:application:<app>`` (Get/Create/
  Delete/UpdateApplication, Get/RegisterApplicationRevision, ListApplicationRevisions,
  ListDeploymentGroups, BatchGetApplications: each name),
  ``...:deploymentgroup:<app>/<group>`` (Create/Get/Update/DeleteDeploymentGroup,
  CreateDeployment, ListDeployments, BatchGetDeploymentGroups: each name; and the
  actions that take a deployment id — Get/Stop/ContinueDeployment, deployment targets
  and instances — and BatchGetDeployments: the group of each deployment),
  ``...:deploymentconfig:<name>`` (Get/Create/DeleteDeploymentConfig); anything else
  against ``"*"``. A deployment id that does not exist is authorized against ``"*"``
  (assumed; AWS does not document it);
- a denial names the resource like AWS: ``User: <caller> is not authorized to perform:
  codedeploy:<Action> on resource: <ARN>``;
- GetDeploymentConfig (new) answers for the predefined EC2/on-premises configs
  ``CodeDeployDefault.OneAtATime`` (FLEET_PERCENT 99), ``HalfAtATime`` (FLEET_PERCENT 50),
  ``AllAtOnce`` (HOST_COUNT 0) and raises ``DeploymentConfigDoesNotExistException`` for
  any other name (the minimum-healthy-host values and the message are assumed).

Batch actions spanning several resources need each of them; the first is authorized
through the usual chain (recorded and fault-injected once), the others directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

APPLICATION_ACTIONS = {
    "GetApplication", "CreateApplication", "DeleteApplication", "UpdateApplication",
    "GetApplicationRevision", "RegisterApplicationRevision", "ListApplicationRevisions",
    "BatchGetApplicationRevisions", "ListDeploymentGroups",
}
GROUP_ACTIONS = {
    "CreateDeploymentGroup", "GetDeploymentGroup", "DeleteDeploymentGroup", "CreateDeployment",
    "ListDeployments",
}
DEPLOYMENT_ACTIONS = {
    "GetDeployment", "StopDeployment", "ContinueDeployment", "ListDeploymentTargets",
    "BatchGetDeploymentTargets", "GetDeploymentTarget", "ListDeploymentInstances",
    "BatchGetDeploymentInstances", "GetDeploymentInstance",
}
CONFIG_ACTIONS = {"GetDeploymentConfig", "CreateDeploymentConfig", "DeleteDeploymentConfig"}

# Predefined EC2/on-premises deployment configs (minimumHealthyHosts assumed).
PREDEFINED_CONFIGS = {
    "CodeDeployDefault.OneAtATime": {"type": "FLEET_PERCENT", "value": 99},
    "CodeDeployDefault.HalfAtATime": {"type": "FLEET_PERCENT", "value": 50},
    "CodeDeployDefault.AllAtOnce": {"type": "HOST_COUNT", "value": 0},
}
_CONFIGS_CREATED = dt.datetime(2014, 10, 6, tzinfo=dt.timezone.utc)

_installed = False


def _arn(response: Any, resource: str) -> str:
    return f"arn:aws:codedeploy:{response.region}:{response.current_account}:{resource}"


def _group_of_deployment(response: Any, deployment_id: Any) -> str:
    deployment = response.codedeploy_backend.deployments.get(deployment_id) if deployment_id else None
    if deployment is None:
        return "*"
    return _arn(response, f"deploymentgroup:{deployment.application.application_name}/"
                          f"{deployment.deployment_group.deployment_group_name}")


def resources(response: Any) -> list[str]:
    """The ARNs an action is authorized against (at least one; "*" when it has none)."""
    action = response._get_action()
    param = response._get_param
    app = param("applicationName")
    found: list[str] = []
    if action == "BatchGetApplications":
        found = [_arn(response, f"application:{a}") for a in param("applicationNames") or []]
    elif action in APPLICATION_ACTIONS and app:
        found = [_arn(response, f"application:{app}")]
    elif action == "BatchGetDeploymentGroups" and app:
        found = [_arn(response, f"deploymentgroup:{app}/{g}") for g in param("deploymentGroupNames") or []]
    elif action == "UpdateDeploymentGroup" and app:
        found = [_arn(response, f"deploymentgroup:{app}/{param('currentDeploymentGroupName')}")]
    elif action in GROUP_ACTIONS and app and param("deploymentGroupName"):
        found = [_arn(response, f"deploymentgroup:{app}/{param('deploymentGroupName')}")]
    elif action in DEPLOYMENT_ACTIONS:
        found = [_group_of_deployment(response, param("deploymentId"))]
    elif action == "BatchGetDeployments":
        found = [_group_of_deployment(response, d) for d in param("deploymentIds") or []]
    elif action in CONFIG_ACTIONS and param("deploymentConfigName"):
        found = [_arn(response, f"deploymentconfig:{param('deploymentConfigName')}")]
    unique = list(dict.fromkeys(found))
    return unique or ["*"]


def install() -> None:
    """Patch moto.codedeploy's responses (idempotent). See the module docstring."""
    global _installed
    if _installed:
        return
    from moto.codedeploy import responses
    from moto.codedeploy.exceptions import CodeDeployException
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import JsonRESTError, _RESTError
    from moto.core.responses import ActionResult
    from moto.iam.access_control import IAMRequest

    # moto's own check, before protocol_errors/counters/faults wrap it.
    unwrapped = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def named(error: Exception, resource: str) -> Exception:
        message = getattr(error, "message", "")
        if resource == "*" or "not authorized" not in message:
            return error
        return JsonRESTError("AccessDeniedException", f"{message} on resource: {resource}")

    def authorize(self: Any, resource: str = "*") -> None:
        wanted = resources(self)
        try:
            self._authenticate_and_authorize_action(IAMRequest, wanted[0])
        except _RESTError as error:
            raise named(error, wanted[0]) from error
        for extra in wanted[1:]:
            try:
                unwrapped(self, IAMRequest, extra)
            except _RESTError as error:
                raise named(JsonRESTError("AccessDeniedException", error.message), extra) from error

    responses.CodeDeployResponse._authenticate_and_authorize_normal_action = authorize

    def get_deployment_config_response(self: Any) -> Any:
        name = self._get_param("deploymentConfigName")
        hosts = PREDEFINED_CONFIGS.get(name)
        if hosts is None:
            raise CodeDeployException("DeploymentConfigDoesNotExistException",
                                      f"The deployment configuration {name} does not exist.")
        return ActionResult({"deploymentConfigInfo": {
            "deploymentConfigId": name, "deploymentConfigName": name, "minimumHealthyHosts": hosts,
            "createTime": _CONFIGS_CREATED, "computePlatform": "Server"}})

    get_deployment_config_response.__name__ = "get_deployment_config"
    responses.CodeDeployResponse.get_deployment_config = get_deployment_config_response
    _installed = True
