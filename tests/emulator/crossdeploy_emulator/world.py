"""The seeded "two-account world" of the CodeDeploy cross-account guide.

Seeding is done *in-process, directly on moto's backends, before the server accepts
connections*. Why not through boto3 against the running server? With IAM enforcement on
from the first request (``INITIAL_NO_AUTH_ACTION_COUNT=0``) there is no identity to
seed with, and moto's "first N requests are unauthenticated" bootstrap counts requests
globally (a race with early clients). In-process seeding also lets us give the users
fixed, documented access keys (moto only generates random ones), needs no HTTP round
trips, and is finished before the startup line announces the endpoint.

Development account 111111111111 (the operator's side):
  user  crossdeploy-operator  sts:AssumeRole (+ sts:TagSession), sts:GetCallerIdentity,
                              S3 read on the revision buckets
  user  dev-admin             everything
  bucket crossdeploy-revisions          versioned; webapp/webapp-{1.0.0,2.0.0}.zip and
                                        the SSE-KMS webapp/webapp-kms-1.0.0.zip;
                                        bucket policy = guide step 2, exactly
  bucket crossdeploy-revisions-nogrant  the two zips, no bucket policy (broken step 2)
  bucket crossdeploy-revisions-rolegrant    the two zips; guide step 2 + read for the
                                            cross-account roles (grants more than the guide)
  bucket crossdeploy-revisions-conditional  the two zips; guide step 2 with a Condition
                                            (aws:SecureTransport): undecidable beforehand

Production account 222222222222:
  role  CrossDeployDeployer      trusts the operator user with sts:ExternalId = EXTERNAL_ID
                                 (sts:AssumeRole + sts:TagSession, so session tags work);
                                 codedeploy:*, s3:Get*/List*, sts:GetCallerIdentity
  role  CrossDeployUntrusted     trusts 333333333333 (root) only          (broken step 3)
  role  CrossDeployNoCodeDeploy  trusted, but S3 read only                (broken step 3)
  role  CrossDeployNoS3          trusted, but CodeDeploy only             (broken step 3)
  role  CodeDeployInstanceRole   EC2 instance role (+ instance profile of the same name)
  role  CodeDeployServiceRole    the deployment group's service role
  user  prod-admin               everything (tests create their own deployment groups)
  codedeploy application webapp (Server), deployment group webapp-prod
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

DEV_ACCOUNT = "111111111111"
PROD_ACCOUNT = "222222222222"
THIRD_ACCOUNT = "333333333333"
REGION = "us-east-1"
PARTITION = "aws"
EXTERNAL_ID = "xd-test-8c1f"

REVISIONS_BUCKET = "crossdeploy-revisions"
NOGRANT_BUCKET = "crossdeploy-revisions-nogrant"
ROLEGRANT_BUCKET = "crossdeploy-revisions-rolegrant"
CONDITIONAL_BUCKET = "crossdeploy-revisions-conditional"
REVISION_BUCKETS = (REVISIONS_BUCKET, NOGRANT_BUCKET, ROLEGRANT_BUCKET, CONDITIONAL_BUCKET)
REVISION_KEYS = ("webapp/webapp-1.0.0.zip", "webapp/webapp-2.0.0.zip")
# An SSE-KMS encrypted revision (main bucket only). The key is a fixed ARN in the
# development account: moto's S3 records and reports it, nothing checks it.
KMS_REVISION_KEY = "webapp/webapp-kms-1.0.0.zip"
KMS_KEY_ARN = f"arn:aws:kms:{REGION}:{DEV_ACCOUNT}:key/6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"

APPLICATION = "webapp"
DEPLOYMENT_GROUP = "webapp-prod"
DEPLOYMENT_CONFIG = "CodeDeployDefault.OneAtATime"

# Fixed test credentials. Access key ids must be 20 characters of [A-Z0-9] (moto finds
# them in the Authorization header with that pattern).
USERS = {
    # json key: (account, user name, access key id, secret access key)
    "operator": (DEV_ACCOUNT, "crossdeploy-operator", "AKIAXDOPERATOR111111",
                 "xdOperatorSecret/111111111111/DoNotUse00"),
    "devAdmin": (DEV_ACCOUNT, "dev-admin", "AKIAXDDEVADMIN111111",
                 "xdDevAdminSecret/111111111111/DoNotUse00"),
    "prodAdmin": (PROD_ACCOUNT, "prod-admin", "AKIAXDPRODADMIN22222",
                  "xdProdAdminSecret/222222222222/DoNotUse0"),
}

ROLE_NAMES = {
    "deployer": "CrossDeployDeployer",
    "untrusted": "CrossDeployUntrusted",
    "noCodeDeploy": "CrossDeployNoCodeDeploy",
    "noS3": "CrossDeployNoS3",
    "instanceRole": "CodeDeployInstanceRole",
    "serviceRole": "CodeDeployServiceRole",
}


def user_arn(account: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:user/{name}"


def role_arn(account: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:role/{name}"


OPERATOR_ARN = user_arn(DEV_ACCOUNT, "crossdeploy-operator")


# --------------------------------------------------------------------------- documents


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(actions: Any, resources: Any = "*", sid: str | None = None) -> dict:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if sid:
        statement = {"Sid": sid, **statement}
    return statement


ADMIN_POLICY = _doc(_allow("*", sid="Everything"))
WHOAMI = _allow("sts:GetCallerIdentity", sid="WhoAmI")
S3_READ_ANYWHERE = _allow(["s3:Get*", "s3:List*"], sid="ReadRevisions")
CODEDEPLOY_DEPLOYER = _allow("codedeploy:*", sid="CodeDeployDeployer")


def _bucket_resources(*buckets: str) -> list[str]:
    return [r for b in buckets for r in (f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*")]


OPERATOR_POLICY = _doc(
    _allow(["sts:AssumeRole", "sts:TagSession"], sid="AssumeCrossAccountRoles"),
    WHOAMI,
    _allow(["s3:Get*", "s3:List*"], _bucket_resources(*REVISION_BUCKETS),
           sid="ReadOwnRevisionBuckets"),
)


def trust_operator_with_external_id(principal: str = OPERATOR_ARN) -> str:
    return _doc({
        "Sid": "TrustDevelopmentOperator",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
    })


def trust_service(service: str) -> str:
    return _doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


# role name -> (trust policy, permissions policy)
PROD_ROLES = {
    "CrossDeployDeployer": (
        trust_operator_with_external_id(),
        _doc(CODEDEPLOY_DEPLOYER, S3_READ_ANYWHERE, WHOAMI),
    ),
    "CrossDeployUntrusted": (
        trust_operator_with_external_id(f"arn:aws:iam::{THIRD_ACCOUNT}:root"),
        _doc(CODEDEPLOY_DEPLOYER, S3_READ_ANYWHERE, WHOAMI),
    ),
    "CrossDeployNoCodeDeploy": (
        trust_operator_with_external_id(),
        _doc(S3_READ_ANYWHERE, WHOAMI),
    ),
    "CrossDeployNoS3": (
        trust_operator_with_external_id(),
        _doc(CODEDEPLOY_DEPLOYER, WHOAMI),
    ),
    "CodeDeployInstanceRole": (
        trust_service("ec2.amazonaws.com"),
        _doc(_allow(["s3:Get*", "s3:List*"], sid="ReadRevisions")),
    ),
    "CodeDeployServiceRole": (
        trust_service("codedeploy.amazonaws.com"),
        _doc(_allow(["ec2:Describe*", "autoscaling:*", "tag:GetResources",
                     "elasticloadbalancing:*", "sns:Publish", "cloudwatch:DescribeAlarms"],
                    sid="AWSCodeDeployRole")),
    ),
}

def guide_step2_statement(bucket: str, condition: dict | None = None) -> dict:
    """Guide step 2, verbatim: the production instance profile's role may get and list
    the bucket's objects."""
    statement = {
        "Sid": "Cross-account permissions",
        "Effect": "Allow",
        "Principal": {"AWS": role_arn(PROD_ACCOUNT, "CodeDeployInstanceRole")},
        "Action": ["s3:Get*", "s3:List*"],
        "Resource": [f"arn:aws:s3:::{bucket}/*"],
    }
    if condition:
        statement["Condition"] = condition
    return statement


def roles_read_statement(bucket: str) -> dict:
    """Read on the bucket and its objects for the production cross-account roles (not in
    the guide). The broken-step-3 roles are granted too, so each of them is broken in
    exactly one way."""
    return {
        "Sid": "CrossDeployRolesRead",
        "Effect": "Allow",
        "Principal": {"AWS": [
            role_arn(PROD_ACCOUNT, "CrossDeployDeployer"),
            role_arn(PROD_ACCOUNT, "CrossDeployNoCodeDeploy"),
            role_arn(PROD_ACCOUNT, "CrossDeployNoS3"),
        ]},
        "Action": ["s3:Get*", "s3:List*"],
        "Resource": _bucket_resources(bucket),
    }


def bucket_policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# Guide step 2 to the letter, and nothing else: the bucket grants the production
# instance profile's role, never the cross-account role of step 3.
REVISIONS_BUCKET_POLICY = bucket_policy(guide_step2_statement(REVISIONS_BUCKET))
# A variant that grants more than the guide: read for the cross-account roles too.
ROLEGRANT_BUCKET_POLICY = bucket_policy(
    guide_step2_statement(ROLEGRANT_BUCKET), roles_read_statement(ROLEGRANT_BUCKET)
)
# Guide step 2 with a condition that depends on the request (the instance's download),
# so whoever evaluates the policy beforehand cannot decide whether the grant holds.
SECURE_TRANSPORT = {"Bool": {"aws:SecureTransport": "true"}}
CONDITIONAL_BUCKET_POLICY = bucket_policy(
    guide_step2_statement(CONDITIONAL_BUCKET, SECURE_TRANSPORT)
)


# --------------------------------------------------------------------------- bundles


def revision_bundle(version: str) -> bytes:
    """A small, byte-for-byte reproducible CodeDeploy bundle (zip with appspec.yml)."""
    files = {
        "appspec.yml": (
            "version: 0.0\n"
            "os: linux\n"
            "files:\n"
            "  - source: /site\n"
            "    destination: /var/www/webapp\n"
            "hooks:\n"
            "  ApplicationStart:\n"
            "    - location: scripts/start.sh\n"
            "      timeout: 60\n"
            "      runas: root\n"
        ),
        "site/index.html": f"<html><body><h1>webapp {version}</h1></body></html>\n",
        "scripts/start.sh": "#!/bin/sh\nsystemctl restart nginx\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".sh") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
    return buffer.getvalue()


# --------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    objects: dict[str, dict[str, dict]] = field(default_factory=dict)  # bucket -> key -> facts
    instance_profile_arn: str = ""


def _iam(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][PARTITION]


def _create_user(account: str, name: str, access_key_id: str, secret: str, policy: str) -> None:
    iam = _iam(account)
    iam.create_user(region_name=REGION, user_name=name)
    iam.put_user_policy(name, f"{name}-policy", policy)
    key = iam.create_access_key(name)
    # Replace moto's random key by the fixed one (the backend indexes keys by id).
    del iam.access_keys[key.access_key_id]
    key.access_key_id = access_key_id
    key.secret_access_key = secret
    iam.access_keys[access_key_id] = key


def _create_role(account: str, name: str, trust: str, permissions: str) -> None:
    iam = _iam(account)
    iam.create_role(
        role_name=name,
        assume_role_policy_document=trust,
        path="/",
        permissions_boundary=None,
        description=f"crossdeploy emulator: {name}",
        tags=[],
        max_session_duration="3600",
    )
    iam.put_role_policy(name, f"{name}-permissions", permissions)


def _put_revision(name: str, key_name: str, **encryption: str) -> dict:
    """Upload the bundle named by ``key_name`` (its version is in the name); its facts."""
    from moto.s3.models import s3_backends

    version = key_name.rsplit("-", 1)[-1].removesuffix(".zip")
    body = revision_bundle(version)
    key = s3_backends[DEV_ACCOUNT][PARTITION].put_object(name, key_name, body, **encryption)
    facts = {"versionId": key.version_id, "eTag": key.etag, "size": len(body), "bundleType": "zip"}
    if encryption:
        facts.update(serverSideEncryption=key.encryption, sseKmsKeyId=key.kms_key_id)
    return facts


def _create_bucket(name: str, policy: str | None) -> dict[str, dict]:
    from moto.s3.models import s3_backends

    s3 = s3_backends[DEV_ACCOUNT][PARTITION]
    s3.create_bucket(name, REGION)
    s3.put_bucket_versioning(name, "Enabled")
    objects = {key_name: _put_revision(name, key_name) for key_name in REVISION_KEYS}
    if policy is not None:
        s3.put_bucket_policy(name, policy.encode("utf-8"))
    return objects


def seed() -> Seeded:
    """Create the world on moto's in-memory backends. Call once, before serving."""
    from moto.codedeploy.models import codedeploy_backends

    seeded = Seeded()
    for account, name, key_id, secret in USERS.values():
        policy = OPERATOR_POLICY if name == "crossdeploy-operator" else ADMIN_POLICY
        _create_user(account, name, key_id, secret, policy)

    # Roles before the bucket policy that names them (AWS rejects unknown principals).
    for name, (trust, permissions) in PROD_ROLES.items():
        _create_role(PROD_ACCOUNT, name, trust, permissions)
    profile = _iam(PROD_ACCOUNT).create_instance_profile(
        name="CodeDeployInstanceRole", path="/", role_names=["CodeDeployInstanceRole"]
    )
    seeded.instance_profile_arn = profile.arn

    seeded.objects[REVISIONS_BUCKET] = _create_bucket(REVISIONS_BUCKET, REVISIONS_BUCKET_POLICY)
    seeded.objects[REVISIONS_BUCKET][KMS_REVISION_KEY] = _put_revision(
        REVISIONS_BUCKET, KMS_REVISION_KEY, encryption="aws:kms", kms_key_id=KMS_KEY_ARN
    )
    seeded.objects[NOGRANT_BUCKET] = _create_bucket(NOGRANT_BUCKET, None)
    seeded.objects[ROLEGRANT_BUCKET] = _create_bucket(ROLEGRANT_BUCKET, ROLEGRANT_BUCKET_POLICY)
    seeded.objects[CONDITIONAL_BUCKET] = _create_bucket(CONDITIONAL_BUCKET, CONDITIONAL_BUCKET_POLICY)

    codedeploy = codedeploy_backends[PROD_ACCOUNT][REGION]
    codedeploy.create_application(APPLICATION, "Server", tags=[])
    codedeploy.create_deployment_group(
        application_name=APPLICATION,
        deployment_group_name=DEPLOYMENT_GROUP,
        deployment_config_name=DEPLOYMENT_CONFIG,
        ec2_tag_filters=[{"Key": "Name", "Value": "webapp-prod", "Type": "KEY_AND_VALUE"}],
        on_premises_instance_tag_filters=None,
        auto_scaling_groups=None,
        service_role_arn=role_arn(PROD_ACCOUNT, "CodeDeployServiceRole"),
    )
    return seeded


def describe(seeded: Seeded, endpoint: str, lifecycle: dict) -> dict:
    """Everything a test needs, as printed on the startup line (and /_crossdeploy/world)."""
    from . import CONTROL_PREFIX

    return {
        "endpoint": endpoint,
        "controlUrl": endpoint + CONTROL_PREFIX,
        "region": REGION,
        "accounts": {
            "development": DEV_ACCOUNT,
            "production": PROD_ACCOUNT,
            "untrustedThirdParty": THIRD_ACCOUNT,
        },
        "externalId": EXTERNAL_ID,
        "identities": {
            key: {
                "account": account,
                "userName": name,
                "arn": user_arn(account, name),
                "accessKeyId": key_id,
                "secretAccessKey": secret,
            }
            for key, (account, name, key_id, secret) in USERS.items()
        },
        "roles": {key: role_arn(PROD_ACCOUNT, name) for key, name in ROLE_NAMES.items()},
        "instanceProfileArn": seeded.instance_profile_arn,
        "buckets": {
            "revisions": {
                "name": REVISIONS_BUCKET,
                "account": DEV_ACCOUNT,
                "hasBucketPolicy": True,
                "objects": seeded.objects[REVISIONS_BUCKET],
            },
            "revisionsNoGrant": {
                "name": NOGRANT_BUCKET,
                "account": DEV_ACCOUNT,
                "hasBucketPolicy": False,
                "objects": seeded.objects[NOGRANT_BUCKET],
            },
            "revisionsRoleGrant": {
                "name": ROLEGRANT_BUCKET,
                "account": DEV_ACCOUNT,
                "hasBucketPolicy": True,
                "objects": seeded.objects[ROLEGRANT_BUCKET],
            },
            "revisionsConditional": {
                "name": CONDITIONAL_BUCKET,
                "account": DEV_ACCOUNT,
                "hasBucketPolicy": True,
                "objects": seeded.objects[CONDITIONAL_BUCKET],
            },
        },
        "codedeploy": {
            "account": PROD_ACCOUNT,
            "region": REGION,
            "applicationName": APPLICATION,
            "computePlatform": "Server",
            "deploymentGroupName": DEPLOYMENT_GROUP,
            "deploymentConfigName": DEPLOYMENT_CONFIG,
            "serviceRoleArn": role_arn(PROD_ACCOUNT, "CodeDeployServiceRole"),
            "lifecycle": lifecycle,
        },
    }
