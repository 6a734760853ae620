"""Tests of the crossdeploy AWS emulator itself (not of the operator).

Run:  PY=$(tests/emulator/setup-venv.sh) && $PY -m pytest tests/emulator -q

Every AWS request goes through boto3 with real SigV4 signatures against an emulator
started by a fixture (``python -m crossdeploy_emulator --port 0 --exit-on-stdin-eof``)
on a free port.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
DEPLOYMENT_ID = re.compile(r"^d-[A-Z0-9]{9}$")
# One attempt per call: botocore's "max_attempts" counts retries, "total_max_attempts"
# all attempts (an injected fault must reach the test, not be retried away).
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                       s3={"addressing_style": "path"})


# --------------------------------------------------------------------------- harness


def start_emulator(extra_env: dict | None = None, args: tuple = ()) -> tuple[subprocess.Popen, dict, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    for name in list(env):
        if name.startswith("AWS_"):
            env.pop(name)  # the emulator must not depend on the developer's AWS setup
    env.update(extra_env or {})
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossdeploy_emulator", "--port", "0", "--exit-on-stdin-eof", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=HERE,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready:
        proc.kill()
        raise RuntimeError("emulator did not print its startup line within 60 s")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"emulator exited early with {proc.wait()}")
    return proc, json.loads(line), time.monotonic() - started


def stop_emulator(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.stdin.close()  # --exit-on-stdin-eof
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return proc.returncode


@pytest.fixture(scope="session")
def emulator():
    proc, world, elapsed = start_emulator()
    print(f"\nemulator start-to-ready: {elapsed:.2f}s", file=sys.stderr)
    yield world
    assert stop_emulator(proc) == 0


@pytest.fixture(scope="session")
def world(emulator):
    return emulator


def client(world: dict, service: str, key_id: str, secret: str, token: str | None = None):
    return boto3.client(
        service,
        endpoint_url=world["endpoint"],
        region_name=world["region"],
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=CLIENT_CONFIG,
    )


def as_user(world: dict, who: str, service: str):
    ident = world["identities"][who]
    return client(world, service, ident["accessKeyId"], ident["secretAccessKey"])


def assume(world: dict, role_key: str, session: str | None = None, external_id: str | None = "DEFAULT",
           who: str = "operator") -> dict:
    kwargs = {"RoleArn": world["roles"].get(role_key, role_key),
              "RoleSessionName": session or f"t-{uuid.uuid4().hex[:12]}"}
    if external_id == "DEFAULT":
        kwargs["ExternalId"] = world["externalId"]
    elif external_id is not None:
        kwargs["ExternalId"] = external_id
    return as_user(world, who, "sts").assume_role(**kwargs)


def as_role(world: dict, role_key: str, service: str, session: str | None = None):
    creds = assume(world, role_key, session)["Credentials"]
    return client(world, service, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def error_of(excinfo) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a ClientError or of pytest.raises' excinfo."""
    err = getattr(excinfo, "value", excinfo).response
    return (err["Error"].get("Code"), err["Error"].get("Message", ""),
            err["ResponseMetadata"]["HTTPStatusCode"])


def control(world: dict, path: str, body: dict | None = None, method: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(world["controlUrl"] + path, data=data,
                                 method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def new_group(world: dict, name: str | None = None, **extra) -> str:
    """Each lifecycle test uses its own deployment group (one active deployment per group)."""
    name = name or f"g-{uuid.uuid4().hex[:10]}"
    as_user(world, "prodAdmin", "codedeploy").create_deployment_group(
        applicationName=world["codedeploy"]["applicationName"], deploymentGroupName=name,
        serviceRoleArn=world["codedeploy"]["serviceRoleArn"], **extra)
    return name


def revision(world: dict, key: str = "webapp/webapp-1.0.0.zip", bucket: str = "revisions") -> dict:
    b = world["buckets"][bucket]
    return {"revisionType": "S3", "s3Location": {
        "bucket": b["name"], "key": key, "bundleType": "zip",
        "version": b["objects"][key]["versionId"], "eTag": b["objects"][key]["eTag"].strip('"')}}


def wait_status(cd, deployment_id: str, wanted: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        if not seen or seen[-1] != info["status"]:
            seen.append(info["status"])
        if info["status"] == wanted:
            return info
        time.sleep(0.05)
    raise AssertionError(f"{deployment_id} never reached {wanted}; saw {seen}")


# --------------------------------------------------------------------------- startup


def test_startup_line_describes_the_world(world):
    assert world["region"] == "us-east-1"
    assert world["endpoint"].startswith("http://127.0.0.1:")
    assert world["accounts"] == {"development": "111111111111", "production": "222222222222",
                                 "untrustedThirdParty": "333333333333"}
    assert world["externalId"] == "xd-test-8c1f"
    assert set(world["identities"]) == {"operator", "devAdmin", "prodAdmin"}
    assert world["identities"]["operator"]["arn"] == "arn:aws:iam::111111111111:user/crossdeploy-operator"
    assert world["roles"]["deployer"] == "arn:aws:iam::222222222222:role/CrossDeployDeployer"
    for bucket in ("revisions", "revisionsNoGrant", "revisionsRoleGrant", "revisionsConditional"):
        objs = world["buckets"][bucket]["objects"]
        kms = {"webapp/webapp-kms-1.0.0.zip"} if bucket == "revisions" else set()
        assert set(objs) == {"webapp/webapp-1.0.0.zip", "webapp/webapp-2.0.0.zip"} | kms
        assert all(o["versionId"] for o in objs.values())
    assert world["codedeploy"]["applicationName"] == "webapp"
    assert world["codedeploy"]["deploymentGroupName"] == "webapp-prod"
    status, same = control(world, "/world")
    assert status == 200 and same == world


def test_one_stdout_line_env_timings_and_sigterm():
    proc, world, _ = start_emulator({"CROSSDEPLOY_EMULATOR_CD_IN_PROGRESS_AFTER": "0.1",
                                     "CROSSDEPLOY_EMULATOR_CD_COMPLETE_AFTER": "0.2"})
    try:
        assert world["codedeploy"]["lifecycle"]["inProgressAfterSeconds"] == 0.1
        assert world["codedeploy"]["lifecycle"]["completeAfterSeconds"] == 0.2
        as_user(world, "operator", "sts").get_caller_identity()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stdout.read() == b""  # nothing after the startup line
    finally:
        if proc.poll() is None:
            proc.kill()


def test_exits_on_stdin_eof():
    proc, world, _ = start_emulator()
    proc.stdin.close()
    assert proc.wait(10) == 0


# --------------------------------------------------------------------------- SigV4 + STS


def test_operator_identity(world):
    ident = as_user(world, "operator", "sts").get_caller_identity()
    assert ident["Account"] == "111111111111"
    assert ident["Arn"] == "arn:aws:iam::111111111111:user/crossdeploy-operator"


def test_bad_signature_is_rejected(world):
    op = world["identities"]["operator"]
    sts = client(world, "sts", op["accessKeyId"], "x" * 40)
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert error_of(e)[0] == "SignatureDoesNotMatch"
    s3 = client(world, "s3", op["accessKeyId"], "x" * 40)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="crossdeploy-revisions", Key="webapp/webapp-1.0.0.zip")
    assert error_of(e)[2] == 403
    cd = client(world, "codedeploy", world["identities"]["prodAdmin"]["accessKeyId"], "y" * 40)
    with pytest.raises(ClientError) as e:
        cd.list_applications()
    assert error_of(e)[0] == "InvalidSignatureException"


def test_unknown_access_key_is_rejected(world):
    with pytest.raises(ClientError) as e:
        client(world, "sts", "AKIAUNKNOWNKEY000000", "z" * 40).get_caller_identity()
    assert error_of(e)[0] == "InvalidClientTokenId"


def test_assume_role_with_right_external_id(world):
    resp = assume(world, "deployer", session="right-extid")
    assert resp["AssumedRoleUser"]["Arn"] == \
        "arn:aws:sts::222222222222:assumed-role/CrossDeployDeployer/right-extid"
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    sts = client(world, "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    ident = sts.get_caller_identity()
    assert ident["Account"] == "222222222222"
    assert ident["Arn"] == "arn:aws:sts::222222222222:assumed-role/CrossDeployDeployer/right-extid"


@pytest.mark.parametrize("external_id", ["wrong-extid", None])
def test_assume_role_with_wrong_or_missing_external_id_is_denied(world, external_id):
    with pytest.raises(ClientError) as e:
        assume(world, "deployer", external_id=external_id)
    code, message, status = error_of(e)
    assert (code, status) == ("AccessDenied", 403)
    assert message == ("User: arn:aws:iam::111111111111:user/crossdeploy-operator is not authorized "
                       "to perform: sts:AssumeRole on resource: "
                       "arn:aws:iam::222222222222:role/CrossDeployDeployer")


def test_assume_untrusted_role_is_denied(world):
    with pytest.raises(ClientError) as e:
        assume(world, "untrusted")
    code, message, _ = error_of(e)
    assert code == "AccessDenied"
    assert message.endswith("sts:AssumeRole on resource: arn:aws:iam::222222222222:role/CrossDeployUntrusted")


def test_assume_missing_role_is_denied(world):
    with pytest.raises(ClientError) as e:
        assume(world, "arn:aws:iam::222222222222:role/DoesNotExist")
    assert error_of(e)[0] == "AccessDenied"


def test_trust_by_account_root_and_identity_policy_both_required(world):
    """A role trusting 111111111111:root: the operator (allowed sts:AssumeRole) gets in;
    a dev user without an identity policy does not, although the trust policy matches."""
    iam_prod = as_user(world, "prodAdmin", "iam")
    role_name = f"TrustsDevRoot{uuid.uuid4().hex[:6]}"
    iam_prod.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": "sts:AssumeRole"}]}))
    arn = f"arn:aws:iam::222222222222:role/{role_name}"
    assert assume(world, arn, external_id=None)["AssumedRoleUser"]["Arn"].startswith(
        f"arn:aws:sts::222222222222:assumed-role/{role_name}/")

    iam_dev = as_user(world, "devAdmin", "iam")
    user = f"no-perms-{uuid.uuid4().hex[:6]}"
    iam_dev.create_user(UserName=user)
    key = iam_dev.create_access_key(UserName=user)["AccessKey"]
    sts = client(world, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=arn, RoleSessionName="nope")
    assert error_of(e)[0] == "AccessDenied"


def test_session_tags_need_tag_session_in_trust_policy(world):
    tags = [{"Key": "crossdeploy.io/namespace", "Value": "team-a"}]
    sts = as_user(world, "operator", "sts")
    sts.assume_role(RoleArn=world["roles"]["deployer"], RoleSessionName="tagged",
                    ExternalId=world["externalId"], Tags=tags)  # deployer trusts TagSession
    role_name = f"NoTagSession{uuid.uuid4().hex[:6]}"
    as_user(world, "prodAdmin", "iam").create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": world["identities"]["operator"]["arn"]},
            "Action": "sts:AssumeRole"}]}))
    arn = f"arn:aws:iam::222222222222:role/{role_name}"
    sts.assume_role(RoleArn=arn, RoleSessionName="untagged")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=arn, RoleSessionName="tagged", Tags=tags)
    assert error_of(e)[0] == "AccessDenied"


def test_duration_above_max_session_duration_is_rejected(world):
    sts = as_user(world, "operator", "sts")
    sts.assume_role(RoleArn=world["roles"]["deployer"], RoleSessionName="dur", ExternalId=world["externalId"],
                    DurationSeconds=3600)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=world["roles"]["deployer"], RoleSessionName="dur",
                        ExternalId=world["externalId"], DurationSeconds=7200)
    assert error_of(e)[0] == "ValidationError"


# --------------------------------------------------------------------------- S3 bucket policy

KEY1 = "webapp/webapp-1.0.0.zip"


def test_revisions_bucket_policy_is_the_guides_step_2(world):
    """crossdeploy-revisions grants exactly what the guide writes: the production
    instance profile's role may get and list the objects; nobody else is named."""
    bucket = world["buckets"]["revisions"]
    operator = as_user(world, "operator", "s3")  # same account: its identity policy suffices
    policy = json.loads(operator.get_bucket_policy(Bucket=bucket["name"])["Policy"])
    assert policy == {"Version": "2012-10-17", "Statement": [{
        "Sid": "Cross-account permissions", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::222222222222:role/CodeDeployInstanceRole"},
        "Action": ["s3:Get*", "s3:List*"], "Resource": ["arn:aws:s3:::crossdeploy-revisions/*"]}]}
    head = operator.head_object(Bucket=bucket["name"], Key=KEY1)
    assert head["VersionId"] == bucket["objects"][KEY1]["versionId"]
    listed = operator.list_objects_v2(Bucket=bucket["name"], Prefix="webapp/")
    assert [o["Key"] for o in listed["Contents"]] == ["webapp/webapp-1.0.0.zip", "webapp/webapp-2.0.0.zip",
                                                      "webapp/webapp-kms-1.0.0.zip"]
    deployer = as_role(world, "deployer", "s3")  # the cross-account role of step 3 is not granted
    for call in (lambda: deployer.head_object(Bucket=bucket["name"], Key=KEY1),
                 lambda: deployer.get_object(Bucket=bucket["name"], Key=KEY1),
                 lambda: deployer.list_objects_v2(Bucket=bucket["name"]),
                 lambda: deployer.get_bucket_policy(Bucket=bucket["name"])):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[2] == 403


def test_deployer_reads_granted_bucket(world):
    s3 = as_role(world, "deployer", "s3")
    bucket = world["buckets"]["revisionsRoleGrant"]  # grants the cross-account roles
    head = s3.head_object(Bucket=bucket["name"], Key=KEY1)
    assert head["ContentLength"] == bucket["objects"][KEY1]["size"]
    assert head["VersionId"] == bucket["objects"][KEY1]["versionId"]
    body = s3.get_object(Bucket=bucket["name"], Key=KEY1,
                         VersionId=bucket["objects"][KEY1]["versionId"])["Body"].read()
    assert "appspec.yml" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    listed = s3.list_objects_v2(Bucket=bucket["name"], Prefix="webapp/")
    assert [o["Key"] for o in listed["Contents"]] == ["webapp/webapp-1.0.0.zip", "webapp/webapp-2.0.0.zip"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket["name"])["Policy"])
    assert policy["Statement"][0]["Sid"] == "Cross-account permissions"
    s3.head_bucket(Bucket=bucket["name"])


def test_sse_kms_revision(world):
    bucket = world["buckets"]["revisions"]
    facts = bucket["objects"]["webapp/webapp-kms-1.0.0.zip"]
    assert facts["serverSideEncryption"] == "aws:kms"
    assert facts["sseKmsKeyId"].startswith("arn:aws:kms:us-east-1:111111111111:key/")
    head = as_user(world, "operator", "s3").head_object(Bucket=bucket["name"], Key="webapp/webapp-kms-1.0.0.zip")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == facts["sseKmsKeyId"]
    assert (head["VersionId"], head["ETag"], head["ContentLength"]) == (
        facts["versionId"], facts["eTag"], facts["size"])
    plain = as_user(world, "operator", "s3").head_object(Bucket=bucket["name"], Key=KEY1)
    assert "SSEKMSKeyId" not in plain and plain.get("ServerSideEncryption") != "aws:kms"


def test_variant_buckets_rolegrant_and_conditional(world):
    operator = as_user(world, "operator", "s3")
    deployer = as_role(world, "deployer", "s3")
    instance_role = world["roles"]["instanceRole"]
    rolegrant = world["buckets"]["revisionsRoleGrant"]["name"]
    conditional = world["buckets"]["revisionsConditional"]["name"]
    assert (rolegrant, conditional) == ("crossdeploy-revisions-rolegrant", "crossdeploy-revisions-conditional")

    policy = json.loads(operator.get_bucket_policy(Bucket=rolegrant)["Policy"])
    step2, roles = policy["Statement"]
    assert step2 == {"Sid": "Cross-account permissions", "Effect": "Allow", "Principal": {"AWS": instance_role},
                     "Action": ["s3:Get*", "s3:List*"], "Resource": [f"arn:aws:s3:::{rolegrant}/*"]}
    assert world["roles"]["deployer"] in roles["Principal"]["AWS"]
    deployer.head_object(Bucket=rolegrant, Key=KEY1)  # granted to the cross-account roles
    deployer.list_objects_v2(Bucket=rolegrant)

    policy = json.loads(operator.get_bucket_policy(Bucket=conditional)["Policy"])
    (step2,) = policy["Statement"]
    assert step2["Principal"] == {"AWS": instance_role} and step2["Resource"] == [f"arn:aws:s3:::{conditional}/*"]
    assert step2["Condition"] == {"Bool": {"aws:SecureTransport": "true"}}
    operator.head_object(Bucket=conditional, Key=KEY1)  # same account: identity policy suffices
    with pytest.raises(ClientError) as e:  # nothing grants the cross-account roles
        deployer.head_object(Bucket=conditional, Key=KEY1)
    assert error_of(e)[2] == 403


def test_deployer_is_denied_on_bucket_without_grant(world):
    s3 = as_role(world, "deployer", "s3")
    name = world["buckets"]["revisionsNoGrant"]["name"]
    for call in (lambda: s3.head_object(Bucket=name, Key=KEY1),
                 lambda: s3.get_object(Bucket=name, Key=KEY1),
                 lambda: s3.list_objects_v2(Bucket=name)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[2] == 403


def test_role_without_s3_permission_is_denied(world):
    s3 = as_role(world, "noS3", "s3")
    with pytest.raises(ClientError) as e:  # the bucket grants it: its own policy denies
        s3.head_object(Bucket="crossdeploy-revisions-rolegrant", Key=KEY1)
    assert error_of(e)[2] == 403


def test_same_account_needs_no_bucket_policy(world):
    s3 = as_user(world, "operator", "s3")
    s3.head_object(Bucket="crossdeploy-revisions-nogrant", Key=KEY1)


def test_bucket_policy_wildcards_account_root_and_explicit_deny(world):
    admin = as_user(world, "devAdmin", "s3")
    name = f"xd-policy-{uuid.uuid4().hex[:8]}"
    admin.create_bucket(Bucket=name)
    admin.put_object(Bucket=name, Key="open/a.zip", Body=b"a")
    admin.put_object(Bucket=name, Key="secret/b.zip", Body=b"b")
    admin.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": "s3:GetObj*",
         "Resource": f"arn:aws:s3:::{name}/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{name}/secret/*"},
    ]}))
    s3 = as_role(world, "deployer", "s3")
    assert s3.get_object(Bucket=name, Key="open/a.zip")["Body"].read() == b"a"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=name, Key="secret/b.zip")  # explicit deny wins
    assert error_of(e)[:2] == ("AccessDenied", "Access Denied")
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)  # s3:ListBucket not granted
    assert error_of(e)[0] == "AccessDenied"
    # explicit deny applies to the owner account as well
    with pytest.raises(ClientError) as e:
        admin.get_object(Bucket=name, Key="secret/b.zip")
    assert error_of(e)[2] == 403


# --------------------------------------------------------------------------- CodeDeploy


def test_codedeploy_reads_and_missing_resources(world):
    cd = as_role(world, "deployer", "codedeploy")
    app = cd.get_application(applicationName="webapp")["application"]
    assert app["computePlatform"] == "Server"
    group = cd.get_deployment_group(applicationName="webapp", deploymentGroupName="webapp-prod")
    assert group["deploymentGroupInfo"]["serviceRoleArn"] == world["codedeploy"]["serviceRoleArn"]
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName="nosuchapp", deploymentGroupName="webapp-prod",
                             revision=revision(world))
    assert error_of(e)[0] == "ApplicationDoesNotExistException"
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName="webapp", deploymentGroupName="nosuchgroup",
                             revision=revision(world))
    assert error_of(e)[0] == "DeploymentGroupDoesNotExistException"
    with pytest.raises(ClientError) as e:
        cd.get_deployment_group(applicationName="webapp", deploymentGroupName="nosuchgroup")
    assert error_of(e)[0] == "DeploymentGroupDoesNotExistException"


def test_role_without_codedeploy_permission_is_denied(world):
    session = "no-cd"
    cd = as_role(world, "noCodeDeploy", "codedeploy", session=session)
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName="webapp", deploymentGroupName="webapp-prod",
                             revision=revision(world))
    code, message, _ = error_of(e)
    assert code == "AccessDeniedException"  # JSON protocol: parseable by the SDKs
    assert message == ("User: arn:aws:sts::222222222222:assumed-role/CrossDeployNoCodeDeploy/"
                       f"{session} is not authorized to perform: codedeploy:CreateDeployment on resource: "
                       "arn:aws:codedeploy:us-east-1:222222222222:deploymentgroup:webapp/webapp-prod")


def least_privilege_role(world: dict, group: str, configs: list[str]) -> str:
    """A role trusting the operator, allowed CodeDeploy only on webapp, one group and `configs`."""
    arn = lambda r: f"arn:aws:codedeploy:us-east-1:222222222222:{r}"  # noqa: E731
    name = f"LeastPrivilege{uuid.uuid4().hex[:6]}"
    iam = as_user(world, "prodAdmin", "iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": world["identities"]["operator"]["arn"]},
            "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=name, PolicyName="deploy", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["codedeploy:GetApplication"], "Resource": [arn("application:webapp")]},
            {"Effect": "Allow", "Resource": [arn(f"deploymentgroup:webapp/{group}")], "Action": [
                "codedeploy:GetDeploymentGroup", "codedeploy:CreateDeployment", "codedeploy:GetDeployment",
                "codedeploy:BatchGetDeployments", "codedeploy:ListDeployments", "codedeploy:StopDeployment"]},
            {"Effect": "Allow", "Action": ["codedeploy:GetDeploymentConfig"],
             "Resource": [arn(f"deploymentconfig:{c}") for c in configs]}]}))
    return f"arn:aws:iam::222222222222:role/{name}"


def test_codedeploy_permissions_are_per_resource(world):
    group, other = new_group(world), new_group(world)
    role = least_privilege_role(world, group, ["CodeDeployDefault.OneAtATime", "Nope.*"])
    creds = assume(world, role, external_id=None)["Credentials"]
    cd = client(world, "codedeploy", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert cd.get_application(applicationName="webapp")["application"]["applicationName"] == "webapp"
    cd.get_deployment_group(applicationName="webapp", deploymentGroupName=group)
    with pytest.raises(ClientError) as e:
        cd.get_deployment_group(applicationName="webapp", deploymentGroupName=other)
    code, message, _ = error_of(e)
    assert code == "AccessDeniedException"
    assert message.endswith(f"codedeploy:GetDeploymentGroup on resource: "
                            f"arn:aws:codedeploy:us-east-1:222222222222:deploymentgroup:webapp/{other}"), message
    deployment = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                      revision=revision(world))["deploymentId"]
    assert cd.get_deployment(deploymentId=deployment)["deploymentInfo"]["deploymentGroupName"] == group
    assert deployment in cd.list_deployments(applicationName="webapp", deploymentGroupName=group)["deployments"]
    cd.batch_get_deployments(deploymentIds=[deployment])
    theirs = as_user(world, "prodAdmin", "codedeploy").create_deployment(
        applicationName="webapp", deploymentGroupName=other, revision=revision(world))["deploymentId"]
    for call in (lambda: cd.get_deployment(deploymentId=theirs),
                 lambda: cd.batch_get_deployments(deploymentIds=[deployment, theirs]),
                 lambda: cd.create_deployment(applicationName="webapp", deploymentGroupName=other,
                                              revision=revision(world))):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "AccessDeniedException"
        assert f"deploymentgroup:webapp/{other}" in error_of(e)[1]
    cd.stop_deployment(deploymentId=deployment)


def test_get_deployment_config(world):
    group = new_group(world)
    role = least_privilege_role(world, group, ["CodeDeployDefault.OneAtATime", "Nope.*"])
    creds = assume(world, role, external_id=None)["Credentials"]
    cd = client(world, "codedeploy", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    info = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.OneAtATime")["deploymentConfigInfo"]
    assert info["minimumHealthyHosts"] == {"type": "FLEET_PERCENT", "value": 99}
    assert info["computePlatform"] == "Server"
    with pytest.raises(ClientError) as e:
        cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.AllAtOnce")
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        cd.get_deployment_config(deploymentConfigName="Nope.Missing")
    assert error_of(e)[0] == "DeploymentConfigDoesNotExistException"
    admin = as_user(world, "prodAdmin", "codedeploy")
    assert admin.get_deployment_config(deploymentConfigName="CodeDeployDefault.AllAtOnce")[
        "deploymentConfigInfo"]["minimumHealthyHosts"] == {"type": "HOST_COUNT", "value": 0}


def test_deployment_lifecycle_succeeds(world):
    group = new_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    rev = revision(world)
    rollback = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    before = datetime.now(timezone.utc)
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group, revision=rev,
                                  description="crossdeploy marker uid=1234 rev=abcd",
                                  autoRollbackConfiguration=rollback,
                                  fileExistsBehavior="OVERWRITE")["deploymentId"]
    assert DEPLOYMENT_ID.match(dep_id), dep_id
    info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["status"] == "Created"
    assert info["deploymentOverview"]["Pending"] == 1
    assert "startTime" not in info and "completeTime" not in info and "errorInformation" not in info
    info = wait_status(cd, dep_id, "InProgress")
    assert info["deploymentOverview"]["InProgress"] == 1 and "startTime" in info
    info = wait_status(cd, dep_id, "Succeeded")
    assert info["deploymentOverview"]["Succeeded"] == 1
    assert info["description"] == "crossdeploy marker uid=1234 rev=abcd"
    assert info["revision"] == rev
    assert info["autoRollbackConfiguration"] == rollback
    assert info["fileExistsBehavior"] == "OVERWRITE"
    assert info["creator"] == "user"
    assert before - timedelta(seconds=2) <= info["createTime"] <= info["startTime"] <= info["completeTime"]
    assert info["completeTime"] - info["createTime"] >= timedelta(seconds=1.4)
    batch = cd.batch_get_deployments(deploymentIds=[dep_id])["deploymentsInfo"]
    assert [d["status"] for d in batch] == ["Succeeded"]
    # a later deployment records the previous successful revision
    dep2 = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                revision=revision(world, "webapp/webapp-2.0.0.zip"))["deploymentId"]
    assert cd.get_deployment(deploymentId=dep2)["deploymentInfo"]["previousRevision"] == rev


def fast_group(world: dict, **extra) -> str:
    """A new group whose deployments finish within ~0.2 s."""
    group = new_group(world, **extra)
    control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": group,
                                             "inProgressAfterSeconds": 0.05, "completeAfterSeconds": 0.2})
    return group


def test_create_deployment_options_are_echoed_and_recorded(world):
    group = fast_group(world)
    session = f"opts-{uuid.uuid4().hex[:8]}"
    cd = as_role(world, "deployer", "codedeploy", session=session)
    alarms = {"enabled": True, "ignorePollAlarmFailure": True, "alarms": [{"name": "webapp-5xx"}]}
    by_filters = {"tagFilters": [{"Key": "Name", "Value": "webapp-green", "Type": "KEY_AND_VALUE"}],
                  "autoScalingGroups": ["webapp-asg"]}
    by_tag_set = {"ec2TagSet": {"ec2TagSetList": [[{"Key": "tier", "Value": "web", "Type": "KEY_AND_VALUE"}]]}}
    ids = []
    for targets in (by_filters, by_tag_set):
        dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                      revision=revision(world), overrideAlarmConfiguration=alarms,
                                      updateOutdatedInstancesOnly=True, targetInstances=targets)["deploymentId"]
        ids.append(dep_id)
        info = wait_status(cd, dep_id, "Succeeded")
        assert info["overrideAlarmConfiguration"] == alarms
        assert info["updateOutdatedInstancesOnly"] is True
        assert info["targetInstances"] == targets
    for info, targets in zip(cd.batch_get_deployments(deploymentIds=ids)["deploymentsInfo"], (by_filters, by_tag_set)):
        assert (info["overrideAlarmConfiguration"], info["targetInstances"]) == (alarms, targets)
    _, calls = control(world, f"/calls?operation=CreateDeployment&principal_contains=/{session}")
    assert [c["params"]["targetInstances"] for c in calls] == [by_filters, by_tag_set]
    for c in calls:
        assert c["params"]["overrideAlarmConfiguration"] == alarms
        assert c["params"]["updateOutdatedInstancesOnly"] is True


def test_deployment_and_group_shapes(world):
    """No empty structs where AWS omits a field; the in-place default style; ASG names."""
    group = fast_group(world, autoScalingGroups=["webapp-asg"])
    cd = as_role(world, "deployer", "codedeploy")
    info = cd.get_deployment_group(applicationName="webapp", deploymentGroupName=group)["deploymentGroupInfo"]
    assert info["deploymentStyle"] == {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}
    assert [g["name"] for g in info["autoScalingGroups"]] == ["webapp-asg"]
    assert info["autoScalingGroups"][0]["hook"].startswith("CodeDeploy-managed-automatic-launch-deployment-hook-")
    for absent in ("alarmConfiguration", "blueGreenDeploymentConfiguration", "loadBalancerInfo", "ec2TagSet"):
        assert absent not in info, absent
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["deploymentStyle"]["deploymentType"] == "IN_PLACE"
    for absent in ("externalId", "additionalDeploymentStatusInfo", "relatedDeployments", "targetInstances",
                   "overrideAlarmConfiguration", "blueGreenDeploymentConfiguration", "loadBalancerInfo"):
        assert absent not in info, absent


def test_scale_out_and_auto_update_deployments(world):
    group = fast_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    body = {"applicationName": "webapp", "deploymentGroupName": group}
    status, answer = control(world, "/codedeploy/scale-out", body)
    assert status == 409 and "no successful deployment" in answer["error"]
    rev = revision(world)
    user_dep = cd.create_deployment(applicationName="webapp", deploymentGroupName=group, revision=rev)["deploymentId"]
    status, answer = control(world, "/codedeploy/scale-out", body)
    assert status == 409 and user_dep in answer["error"]  # the group is busy
    wait_status(cd, user_dep, "Succeeded")

    status, scale_out = control(world, "/codedeploy/scale-out", body)
    assert status == 200 and scale_out["creator"] == "autoscaling" and scale_out["revision"] == rev
    assert DEPLOYMENT_ID.match(scale_out["deploymentId"])
    with pytest.raises(ClientError) as e:  # it occupies the group like any deployment
        cd.create_deployment(applicationName="webapp", deploymentGroupName=group, revision=rev)
    assert error_of(e)[:2] == ("DeploymentLimitExceededException",
                               f"The Deployment Group '{group}' already has an active Deployment "
                               f"'{scale_out['deploymentId']}'")
    info = wait_status(cd, scale_out["deploymentId"], "Succeeded")
    assert info["creator"] == "autoscaling" and info["revision"] == rev
    assert info["description"] == scale_out["description"] and "Auto Scaling" in info["description"]

    status, update = control(world, "/codedeploy/agent-update", body)
    assert status == 200 and update["creator"] == "CodeDeployAutoUpdate"
    info = wait_status(cd, update["deploymentId"], "Succeeded")
    root = scale_out["deploymentId"]  # the last successful deployment of the group
    assert info["relatedDeployments"] == {"autoUpdateOutdatedInstancesRootDeploymentId": root}
    batch = cd.batch_get_deployments(deploymentIds=[user_dep, root, update["deploymentId"]])["deploymentsInfo"]
    assert {d["deploymentId"]: d["creator"] for d in batch} == {
        user_dep: "user", root: "autoscaling", update["deploymentId"]: "CodeDeployAutoUpdate"}
    root_info = next(d for d in batch if d["deploymentId"] == root)
    assert root_info["relatedDeployments"]["autoUpdateOutdatedInstancesDeploymentIds"] == [update["deploymentId"]]
    listed = cd.list_deployments(applicationName="webapp", deploymentGroupName=group)["deployments"]
    assert set(listed) == {user_dep, root, update["deploymentId"]}

    status, _ = control(world, "/codedeploy/scale-out", {**body, "creator": "CodeDeployAutoUpdate"})
    assert status == 200  # the creator may also be chosen on either endpoint
    assert control(world, "/codedeploy/scale-out", {**body, "creator": "user"})[0] == 400
    assert control(world, "/codedeploy/scale-out", {**body, "deploymentGroupName": "nosuchgroup"})[0] == 404


def test_second_deployment_while_active_is_refused(world):
    group = new_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    first = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                 revision=revision(world))["deploymentId"]
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                             revision=revision(world, "webapp/webapp-2.0.0.zip"))
    code, message, status = error_of(e)
    assert (code, status) == ("DeploymentLimitExceededException", 400)
    assert message == f"The Deployment Group '{group}' already has an active Deployment '{first}'"
    wait_status(cd, first, "Succeeded")
    second = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world, "webapp/webapp-2.0.0.zip"))["deploymentId"]
    assert second != first


def test_concurrent_creates_in_one_group_admit_exactly_one(world):
    from concurrent.futures import ThreadPoolExecutor

    group = new_group(world)
    clients = [as_role(world, "deployer", "codedeploy") for _ in range(6)]

    def create(cd):
        try:
            return cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                        revision=revision(world))["deploymentId"]
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(create, clients))
    winners = [r for r in results if r.startswith("d-")]
    assert len(winners) == 1, results
    assert sorted(set(results) - set(winners)) == ["DeploymentLimitExceededException"]


def test_deployment_group_reports_last_deployments(world):
    group = new_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    info = cd.get_deployment_group(applicationName="webapp", deploymentGroupName=group)["deploymentGroupInfo"]
    assert "lastAttemptedDeployment" not in info and "lastSuccessfulDeployment" not in info
    control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": group,
                                             "inProgressAfterSeconds": 0.05, "completeAfterSeconds": 0.1})
    dep = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                               revision=revision(world))["deploymentId"]
    wait_status(cd, dep, "Succeeded")
    info = cd.get_deployment_group(applicationName="webapp", deploymentGroupName=group)["deploymentGroupInfo"]
    assert info["lastSuccessfulDeployment"]["deploymentId"] == dep
    assert info["lastAttemptedDeployment"]["status"] == "Succeeded"
    assert info["targetRevision"] == revision(world)


def test_stop_deployment(world):
    group = new_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    resp = cd.stop_deployment(deploymentId=dep_id)
    assert resp["status"] == "Pending" and resp["statusMessage"]
    info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["status"] == "Stopped"
    assert info["errorInformation"]["code"] == "MANUAL_STOP"
    assert "completeTime" in info and "rollbackInfo" not in info
    time.sleep(1.6)  # stays stopped past its planned completion
    assert cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]["status"] == "Stopped"
    with pytest.raises(ClientError) as e:
        cd.stop_deployment(deploymentId=dep_id)
    assert error_of(e)[0] == "DeploymentAlreadyCompletedException"
    with pytest.raises(ClientError) as e:
        cd.stop_deployment(deploymentId="d-NOSUCHDEP")
    assert error_of(e)[0] == "DeploymentDoesNotExistException"
    # the group is free again
    cd.create_deployment(applicationName="webapp", deploymentGroupName=group, revision=revision(world))


def test_stop_with_auto_rollback_redeploys_last_good_revision(world):
    group = new_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    good = revision(world)
    first = cd.create_deployment(applicationName="webapp", deploymentGroupName=group, revision=good)["deploymentId"]
    wait_status(cd, first, "Succeeded")
    second = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world, "webapp/webapp-2.0.0.zip"))["deploymentId"]
    cd.stop_deployment(deploymentId=second, autoRollbackEnabled=True)
    info = cd.get_deployment(deploymentId=second)["deploymentInfo"]
    assert info["status"] == "Stopped"
    rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
    assert DEPLOYMENT_ID.match(rollback_id)
    rb = wait_status(cd, rollback_id, "Succeeded")
    assert rb["creator"] == "codeDeployRollback"
    assert rb["revision"] == good
    assert rb["rollbackInfo"]["rollbackTriggeringDeploymentId"] == second


BLUE_GREEN = {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}


def blue_green_group(world: dict, action_on_timeout: str = "STOP_DEPLOYMENT") -> tuple[str, dict]:
    config = {"deploymentReadyOption": {"actionOnTimeout": action_on_timeout, "waitTimeInMinutes": 60},
              "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE",
                                                            "terminationWaitTimeInMinutes": 5},
              "greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"}}
    group = fast_group(world, deploymentStyle=BLUE_GREEN, blueGreenDeploymentConfiguration=config,
                       autoScalingGroups=["webapp-asg"],
                       loadBalancerInfo={"targetGroupInfoList": [{"name": "webapp-tg"}]})
    return group, config


def statuses_until(cd, deployment_id: str, final: tuple = ("Succeeded", "Failed", "Stopped"),
                   timeout: float = 5.0) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in final:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"{deployment_id}: no final status, saw {seen}")


def test_blue_green_waits_in_ready_until_continue(world):
    group, config = blue_green_group(world)
    control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": group,
                                             "inProgressAfterSeconds": 0.05, "completeAfterSeconds": 0.6})
    cd = as_role(world, "deployer", "codedeploy")
    info = cd.get_deployment_group(applicationName="webapp", deploymentGroupName=group)["deploymentGroupInfo"]
    assert info["deploymentStyle"] == BLUE_GREEN and info["blueGreenDeploymentConfiguration"] == config
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    info = wait_status(cd, dep_id, "Ready")
    assert info["deploymentOverview"]["Ready"] == 1 and info["deploymentOverview"]["InProgress"] == 0
    assert "completeTime" not in info and "startTime" in info
    assert info["deploymentStyle"] == BLUE_GREEN and info["blueGreenDeploymentConfiguration"] == config
    time.sleep(0.7)  # well past the group's completion delay: it waits
    assert cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]["status"] == "Ready"
    with pytest.raises(ClientError) as e:  # Ready is active: the group is occupied
        cd.create_deployment(applicationName="webapp", deploymentGroupName=group, revision=revision(world))
    assert error_of(e)[0] == "DeploymentLimitExceededException"
    with pytest.raises(ClientError) as e:
        cd.continue_deployment(deploymentId=dep_id, deploymentWaitType="TERMINATION_WAIT")
    assert error_of(e)[0] == "InvalidDeploymentWaitTypeException"

    assert cd.continue_deployment(deploymentId=dep_id, deploymentWaitType="READY_WAIT")["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    seen = statuses_until(cd, dep_id)  # rerouting takes as long as the install (0.55 s)
    assert seen == ["InProgress", "Succeeded"], seen
    info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["deploymentOverview"]["Succeeded"] == 1 and "completeTime" in info
    with pytest.raises(ClientError) as e:
        cd.continue_deployment(deploymentId=dep_id)
    assert error_of(e)[0] == "DeploymentAlreadyCompletedException"


def test_blue_green_continue_errors_and_stop_from_ready(world):
    group, _ = blue_green_group(world)
    session = f"bg-{uuid.uuid4().hex[:6]}"
    cd = as_role(world, "deployer", "codedeploy", session=session)
    with pytest.raises(ClientError) as e:
        cd.continue_deployment(deploymentId="d-NOSUCHDEP")
    assert error_of(e)[0] == "DeploymentDoesNotExistException"
    control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": group,
                                             "inProgressAfterSeconds": 0.3, "completeAfterSeconds": 0.6})
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    with pytest.raises(ClientError) as e:  # Created, not yet Ready
        cd.continue_deployment(deploymentId=dep_id)
    code, message, status = error_of(e)
    assert (code, status) == ("DeploymentIsNotInReadyStateException", 400) and dep_id in message
    with pytest.raises(ClientError) as e:  # the role without CodeDeploy rights
        as_role(world, "noCodeDeploy", "codedeploy").continue_deployment(deploymentId=dep_id)
    assert error_of(e)[0] == "AccessDeniedException"
    assert "codedeploy:ContinueDeployment" in error_of(e)[1]
    wait_status(cd, dep_id, "Ready")
    cd.stop_deployment(deploymentId=dep_id)  # StopDeployment works from Ready
    info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    _, calls = control(world, f"/calls?operation=ContinueDeployment&principal_contains=/{session}")
    assert [c["outcome"] for c in calls] == ["DeploymentDoesNotExistException",
                                             "DeploymentIsNotInReadyStateException"]

    in_place = fast_group(world)
    held = cd.create_deployment(applicationName="webapp", deploymentGroupName=in_place,
                                revision=revision(world))["deploymentId"]
    with pytest.raises(ClientError) as e:
        cd.continue_deployment(deploymentId=held)
    assert error_of(e)[0] == "UnsupportedActionForDeploymentTypeException"


def test_blue_green_with_continue_deployment_does_not_wait(world):
    group, _ = blue_green_group(world, "CONTINUE_DEPLOYMENT")
    cd = as_role(world, "deployer", "codedeploy")
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    seen = statuses_until(cd, dep_id)
    assert "Ready" not in seen and seen[-1] == "Succeeded", seen


def test_fail_behaviour(world):
    group = new_group(world)
    status, body = control(world, "/codedeploy/behaviour", {
        "account": "222222222222", "applicationName": "webapp", "deploymentGroupName": group,
        "mode": "fail", "errorCode": "HEALTH_CONSTRAINTS", "errorMessage": "2 of 2 instances failed",
        "inProgressAfterSeconds": 0.1, "completeAfterSeconds": 0.4})
    assert status == 200 and body["behaviour"]["mode"] == "fail"
    cd = as_role(world, "deployer", "codedeploy")
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    info = wait_status(cd, dep_id, "Failed", timeout=5)
    assert info["errorInformation"] == {"code": "HEALTH_CONSTRAINTS", "message": "2 of 2 instances failed"}
    assert info["deploymentOverview"]["Failed"] == 1
    assert info["completeTime"] - info["createTime"] < timedelta(seconds=1.2)


def test_failure_with_auto_rollback_starts_rollback(world):
    group = new_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    good = revision(world)
    first = cd.create_deployment(applicationName="webapp", deploymentGroupName=group, revision=good)["deploymentId"]
    wait_status(cd, first, "Succeeded")
    control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": group,
                                             "mode": "fail", "completeAfterSeconds": 0.3,
                                             "inProgressAfterSeconds": 0.1})
    bad = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                               revision=revision(world, "webapp/webapp-2.0.0.zip"),
                               autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
                               )["deploymentId"]
    info = wait_status(cd, bad, "Failed", timeout=5)
    rb = wait_status(cd, info["rollbackInfo"]["rollbackDeploymentId"], "Succeeded", timeout=5)
    assert rb["revision"] == good
    assert rb["creator"] == "codeDeployRollback"
    assert rb["description"] == f"Rollback of deployment {bad}"
    assert rb["rollbackInfo"]["rollbackTriggeringDeploymentId"] == bad
    info = cd.get_deployment(deploymentId=bad)["deploymentInfo"]
    assert info["rollbackInfo"]["rollbackDeploymentId"] == rb["deploymentId"]
    assert info["creator"] == "user"


TARGET_ID = re.compile(r"^i-[0-9a-f]{17}$")


def all_target_ids(cd, deployment_id: str, **kwargs) -> list[str]:
    ids, token, pages = [], None, 0
    while True:
        page = cd.list_deployment_targets(deploymentId=deployment_id, **kwargs,
                                          **({"nextToken": token} if token else {}))
        ids += page["targetIds"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            return ids


def test_failed_deployment_targets(world):
    group = new_group(world)
    status, body = control(world, "/codedeploy/behaviour", {
        "applicationName": "webapp", "deploymentGroupName": group, "mode": "fail",
        "inProgressAfterSeconds": 0.3, "completeAfterSeconds": 0.5, "instanceCount": 26,
        "failedInstances": 3})
    assert status == 200 and body["behaviour"]["failedLifecycleEvent"] == "ApplicationStart"
    cd = as_role(world, "deployer", "codedeploy")
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    with pytest.raises(ClientError) as e:
        cd.list_deployment_targets(deploymentId=dep_id)
    assert error_of(e)[0] == "DeploymentNotStartedException"
    info = wait_status(cd, dep_id, "Failed")
    assert info["deploymentOverview"] == {"Pending": 0, "InProgress": 0, "Succeeded": 23, "Failed": 3,
                                          "Skipped": 0, "Ready": 0}

    first = cd.list_deployment_targets(deploymentId=dep_id)
    assert len(first["targetIds"]) == 10 and first["nextToken"]
    ids = all_target_ids(cd, dep_id)
    assert len(ids) == len(set(ids)) == 26 and all(TARGET_ID.match(i) for i in ids), ids
    assert ids == all_target_ids(cd, dep_id)  # stable
    failed = all_target_ids(cd, dep_id, targetFilters={"TargetStatus": ["Failed"]})
    succeeded = all_target_ids(cd, dep_id, targetFilters={"TargetStatus": ["Succeeded"]})
    assert (len(failed), len(succeeded)) == (3, 23) and set(failed) | set(succeeded) == set(ids)

    targets = cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=failed)["deploymentTargets"]
    assert [t["instanceTarget"]["targetId"] for t in targets] == failed
    for t in targets:
        assert t["deploymentTargetType"] == "InstanceTarget"
        target = t["instanceTarget"]
        assert target["status"] == "Failed" and target["deploymentId"] == dep_id
        assert target["targetArn"] == f"arn:aws:ec2:us-east-1:222222222222:instance/{target['targetId']}"
        assert "instanceLabel" not in target
        events = target["lifecycleEvents"]
        assert [(e["lifecycleEventName"], e["status"]) for e in events] == [
            ("ApplicationStop", "Succeeded"), ("DownloadBundle", "Succeeded"), ("BeforeInstall", "Succeeded"),
            ("Install", "Succeeded"), ("AfterInstall", "Succeeded"), ("ApplicationStart", "Failed"),
            ("ValidateService", "Skipped")]
        diagnostics = events[5]["diagnostics"]
        assert diagnostics["errorCode"] == "ScriptFailed" and diagnostics["scriptName"] == "scripts/start.sh"
        assert diagnostics["message"] == ("Script at specified location: scripts/start.sh run as user root "
                                          "failed with exit code 1")
        assert "AWS_SECRET_ACCESS_KEY=AKIA" in diagnostics["logTail"]
        assert "password=hunter2" in diagnostics["logTail"] and diagnostics["logTail"].count("\n") >= 3
        assert events[0]["diagnostics"]["errorCode"] == "Success" and "diagnostics" not in events[6]
        assert events[0]["startTime"] <= events[5]["endTime"] <= target["lastUpdatedAt"]
        assert info["startTime"] <= events[0]["startTime"] and target["lastUpdatedAt"] <= info["completeTime"]
    ok = cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=succeeded[:2])["deploymentTargets"]
    for t in ok:
        assert t["instanceTarget"]["status"] == "Succeeded"
        assert {e["status"] for e in t["instanceTarget"]["lifecycleEvents"]} == {"Succeeded"}

    for call, code in (
        (lambda: cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=ids),
         "DeploymentTargetListSizeExceededException"),
        (lambda: cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=["i-00000000000000000"]),
         "DeploymentTargetDoesNotExistException"),
        (lambda: cd.batch_get_deployment_targets(deploymentId="d-NOSUCHDEP", targetIds=ids[:1]),
         "DeploymentDoesNotExistException"),
        (lambda: cd.list_deployment_targets(deploymentId=dep_id, nextToken="bogus"), "InvalidNextTokenException"),
        (lambda: cd.list_deployment_targets(deploymentId=dep_id, targetFilters={"Bogus": ["x"]}),
         "InvalidTargetFilterNameException"),
        (lambda: cd.list_deployment_targets(deploymentId=dep_id, targetFilters={"TargetStatus": ["Broken"]}),
         "InvalidInstanceStatusException"),
        (lambda: cd.list_deployment_targets(deploymentId=dep_id, targetFilters={"ServerInstanceLabel": ["Green"]}),
         "InvalidDeploymentInstanceTypeException"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == code
    assert len(cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=ids[:25])
               ["deploymentTargets"]) == 25  # 25 ids is the limit


def test_targets_follow_the_behaviour_and_blue_green(world):
    group = fast_group(world)
    control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": group,
                                             "mode": "fail", "instanceCount": 2,
                                             "failedLifecycleEvent": "BeforeInstall"})
    cd = as_role(world, "deployer", "codedeploy")
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    assert wait_status(cd, dep_id, "Failed")["deploymentOverview"]["Failed"] == 2  # "all" by default
    ids = all_target_ids(cd, dep_id)
    for t in cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=ids)["deploymentTargets"]:
        events = {e["lifecycleEventName"]: e for e in t["instanceTarget"]["lifecycleEvents"]}
        assert events["BeforeInstall"]["diagnostics"]["scriptName"] == "scripts/before_install.sh"
        assert [events[n]["status"] for n in ("DownloadBundle", "BeforeInstall", "Install")] == [
            "Succeeded", "Failed", "Skipped"]
    assert control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": group,
                                                    "failedLifecycleEvent": "Reboot"})[0] == 400

    bg, _ = blue_green_group(world)
    control(world, "/codedeploy/behaviour", {"applicationName": "webapp", "deploymentGroupName": bg,
                                             "instanceCount": 3})
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=bg,
                                  revision=revision(world))["deploymentId"]
    assert wait_status(cd, dep_id, "Ready")["deploymentOverview"]["Ready"] == 3
    ids = all_target_ids(cd, dep_id, targetFilters={"ServerInstanceLabel": ["Green"], "TargetStatus": ["Ready"]})
    assert len(ids) == 3
    assert all_target_ids(cd, dep_id, targetFilters={"ServerInstanceLabel": ["Blue"]}) == []
    target = cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=ids[:1])["deploymentTargets"][0]
    target = target["instanceTarget"]
    assert target["instanceLabel"] == "Green" and target["status"] == "Ready"
    statuses = [(e["lifecycleEventName"], e["status"]) for e in target["lifecycleEvents"]]
    assert statuses[-4:] == [("ValidateService", "Succeeded"), ("BeforeAllowTraffic", "Pending"),
                             ("AllowTraffic", "Pending"), ("AfterAllowTraffic", "Pending")]
    cd.continue_deployment(deploymentId=dep_id)
    wait_status(cd, dep_id, "Succeeded")
    target = cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=ids)["deploymentTargets"][0]
    assert {e["status"] for e in target["instanceTarget"]["lifecycleEvents"]} == {"Succeeded"}


def test_hold_then_complete_through_control_api(world):
    group = new_group(world)
    control(world, "/codedeploy/behaviour", {"account": "222222222222", "applicationName": "webapp",
                                             "deploymentGroupName": group, "mode": "hold",
                                             "inProgressAfterSeconds": 0.05})
    cd = as_role(world, "deployer", "codedeploy")
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]
    wait_status(cd, dep_id, "InProgress")
    time.sleep(1.7)  # longer than the default completion delay
    assert cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]["status"] == "InProgress"
    status, body = control(world, "/codedeploy/complete", {"account": "222222222222", "deploymentId": dep_id,
                                                           "status": "Failed", "errorCode": "TIMEOUT",
                                                           "errorMessage": "held then failed"})
    assert status == 200 and body["status"] == "Failed"
    info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["status"] == "Failed"
    assert info["errorInformation"] == {"code": "TIMEOUT", "message": "held then failed"}
    status, body = control(world, "/codedeploy/complete", {"deploymentId": dep_id, "status": "Succeeded"})
    assert status == 409


def test_list_deployments_filters(world):
    group = new_group(world)
    cd = as_role(world, "deployer", "codedeploy")
    t0 = datetime.now(timezone.utc) - timedelta(seconds=1)
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                  revision=revision(world))["deploymentId"]

    def listed(**kw):
        return cd.list_deployments(applicationName="webapp", deploymentGroupName=group, **kw)["deployments"]

    assert listed() == [dep_id]
    assert listed(includeOnlyStatuses=["Created", "Queued", "InProgress", "Baking", "Ready"]) == [dep_id]
    assert listed(includeOnlyStatuses=["Succeeded"]) == []
    assert listed(createTimeRange={"start": t0}) == [dep_id]
    assert listed(createTimeRange={"end": t0}) == []
    wait_status(cd, dep_id, "Succeeded")
    assert listed(includeOnlyStatuses=["Succeeded"]) == [dep_id]
    assert dep_id in cd.list_deployments()["deployments"]


# --------------------------------------------------------------------------- control API


def test_calls_and_counters(world):
    session = f"count-{uuid.uuid4().hex[:8]}"
    _, before = control(world, "/counters?principal_contains=crossdeploy-operator")
    assume(world, "deployer", session=session)
    with pytest.raises(ClientError):
        assume(world, "deployer", session=session + "-bad", external_id="wrong")
    creds = assume(world, "deployer", session=session)["Credentials"]
    cd = client(world, "codedeploy", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    cd.get_application(applicationName="webapp")

    _, after = control(world, "/counters?principal_contains=crossdeploy-operator")
    assert after["sts:AssumeRole"] - before.get("sts:AssumeRole", 0) == 3

    _, calls = control(world, "/calls?service=sts&operation=AssumeRole&principal_contains=crossdeploy-operator")
    mine = [c for c in calls if c["params"].get("RoleSessionName", "").startswith(session)]
    assert len(mine) == 3
    assert [c["outcome"] for c in mine] == ["ok", "AccessDenied", "ok"]
    for c in mine:
        assert c["account"] == "111111111111"
        assert c["principal"] == "arn:aws:iam::111111111111:user/crossdeploy-operator"
        assert set(c["params"]) <= {"RoleArn", "RoleSessionName", "DurationSeconds"}
        assert c["params"]["RoleArn"] == world["roles"]["deployer"]

    _, calls = control(world, f"/calls?principal_contains=/{session}")
    assert [(c["service"], c["operation"], c["account"], c["outcome"]) for c in calls] == [
        ("codedeploy", "GetApplication", "222222222222", "ok")]
    assert calls[0]["principal"] == f"arn:aws:sts::222222222222:assumed-role/CrossDeployDeployer/{session}"

    _, everything = control(world, "/calls")
    assert world["externalId"] not in json.dumps(everything)
    _, counters = control(world, "/counters")
    assert world["externalId"] not in json.dumps(counters)


def test_calls_record_s3_operations_and_since(world):
    _, calls = control(world, "/calls")
    since = max((c["seq"] for c in calls), default=0)
    s3 = as_role(world, "deployer", "s3", session="s3-ops")
    s3.head_object(Bucket="crossdeploy-revisions-rolegrant", Key=KEY1)
    with pytest.raises(ClientError):
        s3.head_object(Bucket="crossdeploy-revisions-nogrant", Key=KEY1)
    s3.list_objects_v2(Bucket="crossdeploy-revisions-rolegrant")
    _, calls = control(world, f"/calls?service=s3&since={since}&principal_contains=/s3-ops")
    assert [(c["operation"], c["outcome"], c["params"].get("Bucket")) for c in calls] == [
        ("HeadObject", "ok", "crossdeploy-revisions-rolegrant"),
        ("HeadObject", "AccessDenied", "crossdeploy-revisions-nogrant"),
        ("ListObjectsV2", "ok", "crossdeploy-revisions-rolegrant"),
    ]


def test_reset_counters(world):
    as_user(world, "operator", "sts").get_caller_identity()
    status, body = control(world, "/reset-counters", {})
    assert status == 200 and body["dropped"] >= 1
    assert control(world, "/counters") == (200, {})
    as_user(world, "operator", "sts").get_caller_identity()
    assert control(world, "/counters")[1] == {"sts:GetCallerIdentity": 1}


def test_control_api_errors(world):
    assert control(world, "/nope")[0] == 404
    with pytest.raises(urllib.error.HTTPError) as e:  # moto's reset would erase the world
        urllib.request.urlopen(urllib.request.Request(world["endpoint"] + "/moto-api/reset", data=b"",
                                                      method="POST"), timeout=5)
    assert e.value.code == 404
    assert control(world, "/health") == (200, {"ok": True})
    status, body = control(world, "/codedeploy/behaviour", {"applicationName": "webapp",
                                                           "deploymentGroupName": "x", "mode": "explode"})
    assert status == 400 and "mode" in body["error"]
    assert control(world, "/codedeploy/complete", {"deploymentId": "d-NOSUCHDEP"})[0] == 404
    status, body = control(world, "/codedeploy/behaviour?applicationName=webapp&deploymentGroupName=webapp-prod")
    assert status == 200 and body["behaviour"]["mode"] == "succeed"


# --------------------------------------------------------------------------- fault injection


def add_faults(world: dict, *rules: dict) -> list[dict]:
    status, body = control(world, "/faults", {"rules": list(rules)})
    assert status == 200, body
    return body["rules"]


def fault_state(world: dict, rule_id: str) -> dict:
    return next(r for r in control(world, "/faults")[1]["rules"] if r["id"] == rule_id)


def test_fault_throttle_is_seeded_and_scoped(world):
    session = f"thr-{uuid.uuid4().hex[:6]}"
    (rule,) = add_faults(world, {"service": "codedeploy", "operation": "GetApplication",
                                 "principal_contains": f"/{session}", "effect": "throttle",
                                 "probability": 0.3, "seed": 7})
    assert rule["id"].startswith("f-") and rule["fired"] == 0
    cd = as_role(world, "deployer", "codedeploy", session=session)
    other = as_role(world, "deployer", "codedeploy")
    outcomes = []
    for _ in range(40):
        other.get_application(applicationName="webapp")  # another session: never faulted
        try:
            cd.get_application(applicationName="webapp")
            outcomes.append(False)
        except ClientError as e:
            assert error_of(e) == ("ThrottlingException", "Rate exceeded", 400)
            outcomes.append(True)
    rng = random.Random(7)
    assert outcomes == [rng.random() < 0.3 for _ in range(40)]  # the rule's own seeded PRNG
    assert 0 < sum(outcomes) < 40
    state = fault_state(world, rule["id"])
    assert (state["matched"], state["fired"]) == (40, sum(outcomes))
    _, calls = control(world, f"/calls?operation=GetApplication&principal_contains=/{session}")
    assert [c["outcome"] != "ok" for c in calls] == outcomes
    assert all(c["injected"] is True and c["outcome"] == "ThrottlingException" and c["httpStatus"] == 400
               for c in calls if c["outcome"] != "ok")
    assert all("injected" not in c for c in calls if c["outcome"] == "ok")
    assert control(world, f"/faults/{rule['id']}", method="DELETE") == (200, {"cleared": 1})
    cd.get_application(applicationName="webapp")
    assert control(world, f"/faults/{rule['id']}", method="DELETE")[0] == 404


def test_fault_errors_in_each_protocol(world):
    session = f"err-{uuid.uuid4().hex[:6]}"
    creds = assume(world, "deployer", session=session)["Credentials"]
    s3 = client(world, "s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    cd = client(world, "codedeploy", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    sts = client(world, "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    mine = {"principal_contains": f"/{session}"}
    bucket = world["buckets"]["revisionsRoleGrant"]["name"]  # readable by the deployer
    cases = [
        ("sts", "GetCallerIdentity", {"effect": "throttle"}, lambda: sts.get_caller_identity(),
         ("Throttling", 400)),
        ("sts", "GetCallerIdentity", {"effect": "expiredToken"}, lambda: sts.get_caller_identity(),
         ("ExpiredToken", 403)),
        ("sts", "GetCallerIdentity", {"effect": "error5xx"}, lambda: sts.get_caller_identity(),
         ("InternalFailure", 500)),
        ("sts", "GetCallerIdentity", {"effect": "error5xx", "httpStatus": 503}, lambda: sts.get_caller_identity(),
         ("ServiceUnavailable", 503)),
        ("codedeploy", "GetApplication", {"effect": "expiredToken"},
         lambda: cd.get_application(applicationName="webapp"), ("ExpiredTokenException", 400)),
        ("codedeploy", "GetApplication", {"effect": "error5xx"},
         lambda: cd.get_application(applicationName="webapp"), ("InternalFailure", 500)),
        ("codedeploy", "GetApplication", {"effect": "error5xx", "httpStatus": 503},
         lambda: cd.get_application(applicationName="webapp"), ("ServiceUnavailable", 503)),
        ("s3", "GetObject", {"effect": "throttle"}, lambda: s3.get_object(Bucket=bucket, Key=KEY1),
         ("SlowDown", 503)),
        ("s3", "GetObject", {"effect": "expiredToken"}, lambda: s3.get_object(Bucket=bucket, Key=KEY1),
         ("ExpiredToken", 400)),
        ("s3", "GetObject", {"effect": "error5xx"}, lambda: s3.get_object(Bucket=bucket, Key=KEY1),
         ("InternalError", 500)),
        ("s3", "HeadObject", {"effect": "throttle"}, lambda: s3.head_object(Bucket=bucket, Key=KEY1),
         ("503", 503)),  # HEAD: status only, like S3
        # botocore takes a bodiless 400 on HeadObject for a wrong region and tries again
        # once (after a HeadBucket): fault both attempts
        ("s3", "HeadObject", {"effect": "expiredToken", "count": 2},
         lambda: s3.head_object(Bucket=bucket, Key=KEY1), ("400", 400)),
    ]
    for service, operation, effect, call, (code, status) in cases:
        (rule,) = add_faults(world, {"service": service, "operation": operation, "count": 1, **mine, **effect})
        with pytest.raises(ClientError) as e:
            call()
        assert (error_of(e)[0], error_of(e)[2]) == (code, status), (service, operation, effect)
        call()  # count reached: the next call is answered normally
        assert fault_state(world, rule["id"])["fired"] == rule["count"]
        control(world, f"/faults/{rule['id']}", method="DELETE")
    _, calls = control(world, f"/calls?principal_contains=/{session}")
    injected = [(c["service"], c["operation"], c["outcome"]) for c in calls if c.get("injected")]
    assert [o for *_, o in injected] == ["Throttling", "ExpiredToken", "InternalFailure", "ServiceUnavailable",
                                         "ExpiredTokenException", "InternalFailure", "ServiceUnavailable",
                                         "SlowDown", "ExpiredToken", "InternalError", "SlowDown", "ExpiredToken",
                                         "ExpiredToken"]


def test_fault_next_n_calls_sdk_retries_and_no_side_effect(world):
    group = fast_group(world)
    session = f"n-{uuid.uuid4().hex[:6]}"
    creds = assume(world, "deployer", session=session)["Credentials"]
    retrying = boto3.client("codedeploy", endpoint_url=world["endpoint"], region_name=world["region"],
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"],
                            config=Config(retries={"total_max_attempts": 3, "mode": "standard"}))
    mine = {"service": "codedeploy", "principal_contains": f"/{session}"}
    rules = add_faults(world, {**mine, "operation": "CreateDeployment", "effect": "error5xx", "count": 2},
                       {**mine, "operation": "GetDeployment", "effect": "throttle", "count": 2})
    # botocore classifies both as retryable: two injected failures, then the real answer
    dep_id = retrying.create_deployment(applicationName="webapp", deploymentGroupName=group,
                                        revision=revision(world))["deploymentId"]
    assert retrying.get_deployment(deploymentId=dep_id)["deploymentInfo"]["creator"] == "user"
    listed = retrying.list_deployments(applicationName="webapp", deploymentGroupName=group)["deployments"]
    assert listed == [dep_id]  # the faulted CreateDeployment attempts created nothing
    _, calls = control(world, f"/calls?principal_contains=/{session}")
    assert [(c["operation"], c["outcome"]) for c in calls] == [
        ("CreateDeployment", "InternalFailure"), ("CreateDeployment", "InternalFailure"),
        ("CreateDeployment", "ok"),
        ("GetDeployment", "ThrottlingException"), ("GetDeployment", "ThrottlingException"),
        ("GetDeployment", "ok"), ("ListDeployments", "ok")]
    for rule in rules:
        assert fault_state(world, rule["id"])["fired"] == 2
        control(world, f"/faults/{rule['id']}", method="DELETE")


def test_fault_latency_and_control_api(world):
    session = f"lat-{uuid.uuid4().hex[:6]}"
    (rule,) = add_faults(world, {"service": "codedeploy", "principal_contains": f"/{session}",
                                 "latencySeconds": 0.4})
    cd = as_role(world, "deployer", "codedeploy", session=session)
    started = time.monotonic()
    assert cd.get_application(applicationName="webapp")["application"]["applicationName"] == "webapp"
    assert time.monotonic() - started >= 0.4
    _, calls = control(world, f"/calls?principal_contains=/{session}")
    assert calls[-1]["outcome"] == "ok" and calls[-1]["injectedLatencySeconds"] == 0.4
    assert "injected" not in calls[-1]
    assert fault_state(world, rule["id"])["latencySeconds"] == 0.4

    for bad in ({"effect": "throttle"},  # unscoped
                {"service": "s3", "effect": "explode"},
                {"service": "s3"},  # no effect, no latency
                {"service": "s3", "effect": "throttle", "probability": 2},
                {"service": "s3", "effect": "throttle", "httpStatus": 503},
                {"service": "s3", "effect": "error5xx", "httpStatus": 502},
                {"service": "s3", "effect": "throttle", "colour": "red"},
                {"service": "s3", "effect": "throttle", "id": rule["id"]}):
        status, body = control(world, "/faults", {"rules": [bad]})
        assert status == 400, (bad, body)
    status, body = control(world, "/faults", {"service": "s3", "operation": "NoSuchOperation", "effect": "throttle",
                                              "id": "single"})
    assert status == 200 and body["rules"][0]["id"] == "single"  # one rule as the body
    assert {r["id"] for r in control(world, "/faults")[1]["rules"]} >= {rule["id"], "single"}
    assert control(world, "/faults", {"rules": []})[1]["cleared"] >= 2  # clears every rule
    assert control(world, "/faults") == (200, {"rules": []})
    add_faults(world, {"service": "s3", "operation": "NoSuchOperation", "effect": "throttle"})
    assert control(world, "/faults", method="DELETE") == (200, {"cleared": 1})


def test_fault_expired_token_for_existing_sessions_only(world):
    """Expiry: the sessions that exist when the rule is added fail with ExpiredToken,
    a session assumed afterwards (same role, same session name) works."""
    session = f"exp-{uuid.uuid4().hex[:6]}"
    old = as_role(world, "deployer", "codedeploy", session=session)
    (rule,) = add_faults(world, {"principal_contains": f"/{session}", "effect": "expiredToken",
                                 "existingSessionsOnly": True})
    assert rule["existingSessionsOnly"] is True and rule["existingSessions"] >= 1
    with pytest.raises(ClientError) as err:
        old.get_application(applicationName="webapp")
    assert error_of(err)[0] == "ExpiredTokenException"
    fresh = as_role(world, "deployer", "codedeploy", session=session)
    assert fresh.get_application(applicationName="webapp")["application"]["applicationName"] == "webapp"
    assert fault_state(world, rule["id"])["fired"] == 1
    status, body = control(world, "/faults", {"service": "s3", "effect": "throttle",
                                              "existingSessionsOnly": "yes"})
    assert status == 400 and "existingSessionsOnly" in body["error"]
    control(world, f"/faults/{rule['id']}", method="DELETE")


def test_calls_record_the_user_agent_application(world):
    session = f"ua-{uuid.uuid4().hex[:6]}"
    creds = assume(world, "deployer", session=session)["Credentials"]
    for app in ("replica-a", None):
        config = CLIENT_CONFIG.merge(Config(user_agent_appid=app)) if app else CLIENT_CONFIG
        boto3.client("codedeploy", endpoint_url=world["endpoint"], region_name=world["region"],
                     aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                     aws_session_token=creds["SessionToken"], config=config,
                     ).get_application(applicationName="webapp")
    _, calls = control(world, f"/calls?principal_contains=/{session}")
    assert [c.get("userAgentApp") for c in calls] == ["replica-a", None]
    _, mine = control(world, f"/counters?app=replica-a&principal_contains=/{session}")
    assert mine == {"codedeploy:GetApplication": 1}
    assert isinstance(calls[0]["epoch"], float) and calls[0]["time"].endswith("+00:00")


def test_bulk_deployment_groups_deployment_listing_and_stats(world):
    prefix = f"bulk-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(300)]
    before = control(world, "/stats")[1]
    status, body = control(world, "/codedeploy/deployment-groups",
                           {"applicationName": "webapp", "deploymentGroupNames": names})
    assert (status, body) == (200, {"created": 300, "existing": 0})
    status, body = control(world, "/codedeploy/deployment-groups",
                           {"applicationName": "webapp", "deploymentGroupNames": names[:2] + [prefix]})
    assert (status, body) == (200, {"created": 1, "existing": 2})
    assert control(world, "/codedeploy/deployment-groups",
                   {"applicationName": "nope", "deploymentGroupNames": ["x"]})[0] == 404
    assert control(world, "/codedeploy/deployment-groups", {"applicationName": "webapp"})[0] == 400
    cd = as_role(world, "deployer", "codedeploy")
    group = cd.get_deployment_group(applicationName="webapp", deploymentGroupName=names[-1])
    assert group["deploymentGroupInfo"]["serviceRoleArn"] == world["codedeploy"]["serviceRoleArn"]
    dep_id = cd.create_deployment(applicationName="webapp", deploymentGroupName=names[0],
                                  revision=revision(world), description="[crossdeploy:o1:d1]")["deploymentId"]
    _, listed = control(world, f"/codedeploy/deployments?applicationName=webapp&deploymentGroupName={names[0]}")
    (only,) = listed["deployments"]
    assert only["deploymentId"] == dep_id and only["creator"] == "user"
    assert only["description"] == "[crossdeploy:o1:d1]"
    assert only["revision"]["s3Location"]["key"] == "webapp/webapp-1.0.0.zip"
    _, everything = control(world, "/codedeploy/deployments?applicationName=webapp")
    assert dep_id in {d["deploymentId"] for d in everything["deployments"]}
    assert control(world, "/codedeploy/deployments")[0] == 400
    _, stats = control(world, "/stats")
    assert stats["pid"] > 1 and stats["cpuSeconds"] >= before["cpuSeconds"]
    assert stats["rssKiB"] > 0 and stats["maxRssKiB"] >= stats["rssKiB"] // 2
    assert stats["deployments"] > before["deployments"]
    assert stats["calls"]["lastSeq"] > before["calls"]["lastSeq"]
    assert stats["calls"]["dropped"] == 0 and stats["calls"]["kept"] <= stats["calls"]["maxRecords"]


# --------------------------------------------------------------------------- policy evaluator (no server)


def test_policy_evaluator_principals_and_conditions():
    from crossdeploy_emulator.identity import Caller
    from crossdeploy_emulator.policy import Decision, evaluate

    user = Caller("arn:aws:iam::111111111111:user/op", "111111111111")
    session = Caller("arn:aws:sts::222222222222:assumed-role/R/s1", "222222222222",
                     role_arn="arn:aws:iam::222222222222:role/R")

    def trust(principal, condition=None, effect="Allow", key="Principal"):
        statement = {"Effect": effect, key: principal, "Action": "sts:AssumeRole"}
        if condition:
            statement["Condition"] = condition
        return {"Version": "2012-10-17", "Statement": [statement]}

    def decide(doc, caller, external_id=None):
        return evaluate(doc, caller=caller, action="sts:assumerole",  # actions are case-insensitive
                        context={"sts:ExternalId": external_id})

    assert decide(trust({"AWS": "111111111111"}), user) is Decision.ALLOW
    assert decide(trust({"AWS": "arn:aws:iam::111111111111:root"}), user) is Decision.ALLOW
    assert decide(trust({"AWS": "arn:aws:iam::222222222222:root"}), user) is Decision.NEUTRAL
    assert decide(trust({"AWS": ["arn:aws:iam::222222222222:role/R"]}), session) is Decision.ALLOW
    assert decide(trust({"AWS": "arn:aws:sts::222222222222:assumed-role/R/s1"}), session) is Decision.ALLOW
    assert decide(trust({"Service": "ec2.amazonaws.com"}), user) is Decision.NEUTRAL
    assert decide(trust("*"), user) is Decision.ALLOW
    assert decide(trust({"AWS": "arn:aws:iam::111111111111:user/op"}, key="NotPrincipal"), user) is Decision.NEUTRAL
    assert decide(trust({"AWS": "arn:aws:iam::111111111111:user/other"}, key="NotPrincipal"), user) is Decision.ALLOW
    like = {"StringLike": {"sts:ExternalId": "xd-*"}}
    assert decide(trust("*", like), user, "xd-1") is Decision.ALLOW
    assert decide(trust("*", like), user, "yd-1") is Decision.NEUTRAL
    assert decide(trust("*", like), user, None) is Decision.NEUTRAL
    assert decide(trust("*", {"StringNotEquals": {"sts:ExternalId": "bad"}}), user, None) is Decision.ALLOW
    assert decide(trust("*", {"StringEqualsIfExists": {"sts:ExternalId": "x"}}), user, None) is Decision.ALLOW
    assert decide(trust("*", {"NumericLessThan": {"sts:ExternalId": "3"}}), user, "1") is Decision.NEUTRAL
    both = {"Version": "2012-10-17", "Statement": [
        trust("*")["Statement"][0], trust({"AWS": "111111111111"}, effect="Deny")["Statement"][0]]}
    assert decide(both, user) is Decision.DENY
    assert decide(both, session) is Decision.ALLOW


def test_policy_of_the_conditional_bucket_depends_on_the_request():
    """The step-2 grant of crossdeploy-revisions-conditional holds only over TLS: the
    emulator (plain HTTP) never applies it; over HTTPS it would grant the instance role."""
    from crossdeploy_emulator import s3_policy, world as seeded
    from crossdeploy_emulator.identity import Caller
    from crossdeploy_emulator.policy import Decision, evaluate

    instance = Caller("arn:aws:sts::222222222222:assumed-role/CodeDeployInstanceRole/i-0abc", "222222222222",
                      role_arn="arn:aws:iam::222222222222:role/CodeDeployInstanceRole")
    key = f"arn:aws:s3:::{seeded.CONDITIONAL_BUCKET}/webapp/webapp-1.0.0.zip"

    def decide(context):
        return evaluate(seeded.CONDITIONAL_BUCKET_POLICY, caller=instance, action="s3:GetObject",
                        resource=key, context=context)

    assert decide(s3_policy.REQUEST_CONTEXT) is Decision.NEUTRAL
    assert decide({"aws:SecureTransport": "true"}) is Decision.ALLOW
    assert evaluate(seeded.ROLEGRANT_BUCKET_POLICY, caller=instance, action="s3:GetObject",
                    resource=f"arn:aws:s3:::{seeded.ROLEGRANT_BUCKET}/webapp/webapp-1.0.0.zip") is Decision.ALLOW
