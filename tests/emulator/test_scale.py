"""The emulator at scale, in-process (no server): what a call costs must not grow with
the number of deployments the backend has made, and the lazy lifecycle must stay
right while it only looks at the groups a call touches.

Run:  PY=$(tests/emulator/setup-venv.sh) && PYTHONPATH=tests/emulator $PY -m pytest tests/emulator -q
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"


@pytest.fixture(scope="module")
def backend():
    from moto.codedeploy.models import codedeploy_backends

    from crossdeploy_emulator import server, world

    server.install_extensions()
    if "webapp" not in codedeploy_backends[world.PROD_ACCOUNT][world.REGION].applications:
        world.seed()
    return codedeploy_backends[world.PROD_ACCOUNT][world.REGION]


REVISION = {"revisionType": "S3", "s3Location": {"bucket": "crossdeploy-revisions",
                                                 "key": "webapp/webapp-1.0.0.zip",
                                                 "bundleType": "zip"}}


def _groups(backend, prefix: str, n: int) -> list[str]:
    names = [f"{prefix}-{i}" for i in range(n)]
    for name in names:
        backend.create_deployment_group(
            application_name="webapp", deployment_group_name=name, deployment_config_name=None,
            ec2_tag_filters=None, on_premises_instance_tag_filters=None, auto_scaling_groups=None,
            service_role_arn="arn:aws:iam::222222222222:role/CodeDeployServiceRole")
    return names


def _later(seconds: float) -> dt.datetime:
    from crossdeploy_emulator.codedeploy_lifecycle import utcnow

    return utcnow() + dt.timedelta(seconds=seconds)


def test_a_call_refreshes_only_the_pending_deployments_of_its_group(backend, monkeypatch):
    from crossdeploy_emulator import codedeploy_lifecycle as lifecycle

    groups = _groups(backend, "idx", 50)
    ids = [backend.create_deployment("webapp", g, REVISION) for g in groups]
    index = lifecycle._index(backend)
    assert all(len(index.pending[("webapp", g)]) == 1 for g in groups)

    refreshed = []
    real_refresh = lifecycle.refresh
    monkeypatch.setattr(lifecycle, "refresh", lambda d, now: (refreshed.append(d.deployment_id),
                                                               real_refresh(d, now)))
    backend.get_deployment(ids[7])
    assert refreshed == [ids[7]]  # not the 49 other groups

    refreshed.clear()
    lifecycle.refresh_group(backend, "webapp", groups[3], now=_later(60))
    assert refreshed == [ids[3]]
    assert ("webapp", groups[3]) not in index.pending  # final: never refreshed again
    backend.list_deployments("webapp", groups[3], "", [], {})
    assert refreshed == [ids[3]]
    assert backend.deployments[ids[3]].status == "Succeeded"


def test_list_deployments_of_a_group_matches_moto(backend):
    from crossdeploy_emulator import codedeploy_lifecycle as lifecycle

    (group, other) = _groups(backend, "list", 2)
    first = backend.create_deployment("webapp", group, REVISION)
    lifecycle.refresh_group(backend, "webapp", group, now=_later(60))
    second = backend.create_deployment("webapp", group, REVISION)
    backend.create_deployment("webapp", other, REVISION)
    assert backend.list_deployments("webapp", group, "", [], {}) == [first, second]
    assert backend.list_deployments("webapp", group, "", ["Succeeded"], {}) == [first]
    created = backend.deployments[second].create_time
    assert backend.list_deployments("webapp", group, "", [], {"start": created}) == [second]
    assert backend.list_deployments("webapp", "no-such-group", "", [], {}) == []
    everything = backend.list_deployments(None, None, "", [], {})
    assert everything.index(first) < everything.index(second)


def test_a_failure_is_rolled_back_when_its_group_is_next_looked_at(backend):
    """Rollbacks are materialised lazily per group, with the times they would have had."""
    from crossdeploy_emulator import codedeploy_behaviour, codedeploy_lifecycle as lifecycle

    (group,) = _groups(backend, "rb", 1)
    good = backend.create_deployment("webapp", group, REVISION)
    lifecycle.refresh_group(backend, "webapp", group, now=_later(60))
    codedeploy_behaviour.BEHAVIOURS.update({"mode": "fail"}, account=backend.account_id,
                                           application="webapp", group=group)
    bad = backend.create_deployment(
        "webapp", group, REVISION,
        auto_rollback_configuration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
    lifecycle.refresh_all(backend, now=_later(1))  # before it fails: nothing yet
    assert len(backend.list_deployments("webapp", group, "", [], {})) == 2
    lifecycle.refresh_group(backend, "webapp", group, now=_later(120))
    ids = backend.list_deployments("webapp", group, "", [], {})
    assert ids[:2] == [good, bad] and len(ids) == 3
    failed, rollback = backend.deployments[bad], backend.deployments[ids[2]]
    assert failed.status == "Failed" and rollback.creator == "codeDeployRollback"
    assert rollback.create_time == failed.complete_time
    assert failed._xd_plan.rollback_info["rollbackDeploymentId"] == rollback.deployment_id
    assert rollback.status == "Succeeded"  # it ran with the group's delays, long ago
    assert ("webapp", group) not in lifecycle._index(backend).pending


def test_the_index_follows_moto_when_deployments_are_reset(backend):
    from crossdeploy_emulator import codedeploy_lifecycle as lifecycle

    (group,) = _groups(backend, "reset", 1)
    saved = dict(backend.deployments)
    try:
        backend.deployments.clear()
        assert lifecycle._deployments_in_group(backend, "webapp", group) == []
        dep = backend.create_deployment("webapp", group, REVISION)
        assert [d.deployment_id for d in lifecycle._deployments_in_group(backend, "webapp", group)] == [dep]
    finally:
        backend.deployments.clear()
        backend.deployments.update(saved)
    assert lifecycle._index(backend).count == len(saved)  # rebuilt again


def test_call_records_are_compact_capped_and_counted():
    from crossdeploy_emulator.counters import CallLog

    log = CallLog(max_records=3)
    for i in range(5):
        log.append({"time": 1700000000.0 + i, "service": "codedeploy", "operation": "GetDeployment",
                    "account": "222222222222", "principal": "arn:aws:sts::222222222222:assumed-role/R/s",
                    "outcome": "ok", "httpStatus": 200, "params": {"deploymentId": f"d-{i}"},
                    **({"injected": True} if i == 4 else {})})
    assert log.stats() == {"lastSeq": 5, "kept": 3, "dropped": 2, "maxRecords": 3}
    records = log.query()
    assert [r["seq"] for r in records] == [3, 4, 5]
    assert records[0] == {"seq": 3, "time": "2023-11-14T22:13:22.000+00:00", "epoch": 1700000002.0,
                          "service": "codedeploy", "operation": "GetDeployment",
                          "account": "222222222222",
                          "principal": "arn:aws:sts::222222222222:assumed-role/R/s",
                          "outcome": "ok", "httpStatus": 200, "params": {"deploymentId": "d-2"}}
    assert records[-1]["injected"] is True
    assert [r["seq"] for r in log.query(since=4)] == [5]
    assert log.counters(since=3, principal_contains="/s") == {"codedeploy:GetDeployment": 2}
    assert log.counters(operation="CreateDeployment") == {}
