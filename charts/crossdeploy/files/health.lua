-- Argo CD health for the crossdeploy.io kinds (CrossAccountDeployment,
-- RevisionSource, TargetAccount),
-- read from the kstatus conditions the operator writes (Ready, Reconciling,
-- Stalled) the way kstatus itself reads them: a status written for an older
-- generation says nothing about the current spec, Stalled wins over
-- Reconciling, Reconciling over Ready.
-- spec.suspend only yields Suspended when nothing is failing or in flight:
-- the operator still reports a failure or finishes tracking a deployment it
-- started, and hiding that behind "Suspended" would mislead.
-- Argo CD runs Lua 5.1 (gopher-lua): no integer division, goto or bit ops.
-- A script from argocd-cm gets only the base, table, package and a safe os
-- library unless resource.customizations.useOpenLibs is set: no string or
-- math functions (string.format would fail and turn the health Unknown).
local hs = {}

local function condition(conditions, kind)
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  local reason = c.reason
  local message = c.message
  if reason ~= nil and reason ~= "" and message ~= nil and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= nil and message ~= "" then
    return message
  end
  if reason ~= nil and reason ~= "" then
    return reason
  end
  return fallback
end

local status = obj.status
local conditions = nil
if status ~= nil then
  conditions = status.conditions
end
if conditions == nil or #conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the crossdeploy operator to report status"
  return hs
end

-- The operator always writes observedGeneration; a status without it was
-- not written for this spec either.
local generation = obj.metadata and obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the crossdeploy operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local reconciling = condition(conditions, "Reconciling")
-- Waiting for a person is Suspended in Argo CD: a blue/green deployment in
-- CodeDeploy's Ready state waits for someone (crossdeploy.io/continue, or
-- blueGreen.continueAfter) to reroute traffic; with approval: Manual a new
-- revision waits for crossdeploy.io/approve.
local waits_for_a_person = {
  WaitingForTrafficReroute = "Waiting for traffic reroute",
  AwaitingApproval = "Awaiting approval",
}
if reconciling ~= nil and reconciling.status == "True" and waits_for_a_person[reconciling.reason] ~= nil then
  hs.status = "Suspended"
  hs.message = describe(reconciling, waits_for_a_person[reconciling.reason])
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

local ready = condition(conditions, "Ready")
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  if ready ~= nil and ready.reason == "Suspended" then
    hs.message = describe(ready, "Suspended")
  else
    hs.message = "spec.suspend is true: no new deployment is started"
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready, "Not ready")
else
  hs.message = "Waiting for the Ready condition"
end
return hs
