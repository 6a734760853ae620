//! Issue 12: admission refuses, naming the field, everything that could only
//! fail at run time. Each malformed manifest is a valid one with one change,
//! created with server-side dry-run on the real API server; the error must
//! name exactly the changed field (`status.details.causes[].field`). A few
//! edge cases that AWS and Kubernetes accept must be accepted too.

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use crossdeploy::api::{CrossAccountDeployment, RevisionSource, TargetAccount};

use crate::harness::*;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Target,
    Deployment,
    Source,
}
use Kind::{Deployment as XAD, Source as XRS, Target as XTA};

fn base(kind: Kind) -> Value {
    match kind {
        XTA => json!({
            "roleArn": "arn:aws:iam::222222222222:role/CrossDeployDeployer",
            "region": "us-east-1",
            "namespaceSelector": {"matchLabels": {"team": "a"}},
            "externalIdSecretRef": {"name": "prod-external-id"},
            "instanceProfileRoleArn": "arn:aws:iam::222222222222:role/CodeDeployInstanceRole",
        }),
        XAD => json!({
            "targetAccountRef": {"name": "production"},
            "applicationName": "webapp",
            "deploymentGroupName": "webapp-prod",
            "revision": {"s3": {"bucket": "crossdeploy-revisions", "key": "webapp/webapp-1.0.0.zip"}},
        }),
        XRS => json!({
            "s3": {"bucket": "crossdeploy-revisions", "key": "webapp/webapp-1.0.0.zip"},
            "verifyFor": [{"name": "production"}],
        }),
    }
}

/// RFC 7386 merge patch: null removes, objects merge, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) else {
        *target = patch.clone();
        return;
    };
    for (k, v) in p {
        match t.get_mut(k) {
            _ if v.is_null() => {
                t.remove(k);
            }
            Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// (kind, merge patch over the valid spec, field the error must name,
/// words the error must contain).
fn malformed() -> Vec<(Kind, Value, &'static str, &'static str)> {
    let mut cases = target_accounts();
    cases.extend(deployments());
    cases.extend(sources());
    cases
}

fn target_accounts() -> Vec<(Kind, Value, &'static str, &'static str)> {
    let chain = json!(["arn:aws:iam::111111111111:role/Hub"]);
    let expr = |e: Value| json!({"namespaceSelector": {"matchExpressions": [e]}});
    vec![
        // ARN shapes.
        (
            XTA,
            json!({"roleArn": "arn:aws:iam::2222:role/Deployer"}),
            "spec.roleArn",
            "12-digit account",
        ),
        (
            XTA,
            json!({"roleArn": "arn:aws:iam::222222222222:user/Deployer"}),
            "spec.roleArn",
            "role/<name>",
        ),
        (
            XTA,
            json!({"roleArn": "arn:aws:sts::222222222222:assumed-role/R/s"}),
            "spec.roleArn",
            "role/<name>",
        ),
        (
            XTA,
            json!({"roleArn": "arn:aws:iam::222222222222:role//Deployer"}),
            "spec.roleArn",
            "role/<name>",
        ),
        (
            XTA,
            json!({"roleArn": "arn:aws:iam::222222222222:role/Deploy er"}),
            "spec.roleArn",
            "role/<name>",
        ),
        (
            XTA,
            json!({"roleArn": format!("arn:aws:iam::222222222222:role/{}", long('r', 65))}),
            "spec.roleArn",
            "role/<name>",
        ),
        (
            XTA,
            json!({"roleArn": "arn:aws-:iam::222222222222:role/Deployer"}),
            "spec.roleArn",
            "role/<name>",
        ),
        (
            XTA,
            json!({"instanceProfileRoleArn": "arn:aws:iam::222222222222:instance-profile/P"}),
            "spec.instanceProfileRoleArn",
            "role/<name>",
        ),
        (
            XTA,
            json!({"roleChain": ["arn:aws:iam::111111111111:group/Hubs"]}),
            "spec.roleChain",
            "every roleChain entry must be a role ARN",
        ),
        // Regions.
        (
            XTA,
            json!({"region": "US-EAST-1"}),
            "spec.region",
            "must look like us-east-1",
        ),
        (
            XTA,
            json!({"region": "us_east_1"}),
            "spec.region",
            "must look like us-east-1",
        ),
        (
            XTA,
            json!({"region": "us-east-1a"}),
            "spec.region",
            "must look like us-east-1",
        ),
        (XTA, json!({"region": "us-east"}), "spec.region", "at least 9"),
        // Durations AWS would refuse.
        (
            XTA,
            json!({"sessionDurationSeconds": 899}),
            "spec.sessionDurationSeconds",
            "greater than or equal to 900",
        ),
        (
            XTA,
            json!({"sessionDurationSeconds": 43201}),
            "spec.sessionDurationSeconds",
            "less than or equal to 43200",
        ),
        (
            XTA,
            json!({"sessionDurationSeconds": 3601, "roleChain": chain}),
            "spec.sessionDurationSeconds",
            "at most 3600 when roleChain is set",
        ),
        // Session tags.
        (
            XTA,
            json!({"sessionTags": [{"key": "", "value": "x"}]}),
            "spec.sessionTags[0].key",
            "at least 1",
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": "team!", "value": "x"}]}),
            "spec.sessionTags[0].key",
            "sessionTags key",
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": "aws:team", "value": "x"}]}),
            "spec.sessionTags[0].key",
            "reserved prefix aws:",
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": "AWS:Team", "value": "x"}]}),
            "spec.sessionTags[0].key",
            "reserved prefix aws:",
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": long('k', 129), "value": "x"}]}),
            "spec.sessionTags[0].key",
            "Too long",
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": "team", "value": "a;b"}]}),
            "spec.sessionTags[0].value",
            "sessionTags value",
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": "team", "value": long('v', 257)}]}),
            "spec.sessionTags[0].value",
            "Too long",
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": "Team", "value": "a"}, {"key": "team", "value": "b"}]}),
            "spec.sessionTags",
            "unique, ignoring case",
        ),
        // Label selectors.
        (
            XTA,
            expr(json!({"key": "team", "operator": "Equals", "values": ["a"]})),
            "spec.namespaceSelector.matchExpressions[0].operator",
            "Unsupported value",
        ),
        (
            XTA,
            expr(json!({"key": "team", "operator": "in", "values": ["a"]})),
            "spec.namespaceSelector.matchExpressions[0].operator",
            "Unsupported value",
        ),
        (
            XTA,
            expr(json!({"key": "team", "operator": "In"})),
            "spec.namespaceSelector.matchExpressions[0].values",
            "non-empty for In and NotIn",
        ),
        (
            XTA,
            expr(json!({"key": "team", "operator": "NotIn", "values": []})),
            "spec.namespaceSelector.matchExpressions[0].values",
            "non-empty for In and NotIn",
        ),
        (
            XTA,
            expr(json!({"key": "team", "operator": "Exists", "values": ["a"]})),
            "spec.namespaceSelector.matchExpressions[0].values",
            "empty for Exists and DoesNotExist",
        ),
        (
            XTA,
            expr(json!({"key": "team", "operator": "DoesNotExist", "values": ["a"]})),
            "spec.namespaceSelector.matchExpressions[0].values",
            "empty for Exists and DoesNotExist",
        ),
        (
            XTA,
            expr(json!({"key": "team name", "operator": "Exists"})),
            "spec.namespaceSelector.matchExpressions[0].key",
            "must be a label key",
        ),
        (
            XTA,
            expr(json!({"key": "example.com/", "operator": "Exists"})),
            "spec.namespaceSelector.matchExpressions[0].key",
            "must be a label key",
        ),
        (
            XTA,
            expr(json!({"key": "team", "operator": "In", "values": ["-a"]})),
            "spec.namespaceSelector.matchExpressions[0].values",
            "label value",
        ),
        (
            XTA,
            json!({"namespaceSelector": {"matchLabels": {"team": "a b"}}}),
            "spec.namespaceSelector.matchLabels.team",
            "should match",
        ),
        (
            XTA,
            json!({"namespaceSelector": null}),
            "spec.namespaceSelector",
            "Required value",
        ),
        // The ExternalId Secret reference.
        (
            XTA,
            json!({"externalIdSecretRef": {"name": "Prod_ExternalId"}}),
            "spec.externalIdSecretRef.name",
            "Kubernetes object name",
        ),
        (
            XTA,
            json!({"externalIdSecretRef": {"name": "a b"}}),
            "spec.externalIdSecretRef.name",
            "Kubernetes object name",
        ),
        (
            XTA,
            json!({"externalIdSecretRef": {"name": ""}}),
            "spec.externalIdSecretRef.name",
            "Kubernetes object name",
        ),
        (
            XTA,
            json!({"externalIdSecretRef": {"name": "ext.-id"}}),
            "spec.externalIdSecretRef.name",
            "Kubernetes object name",
        ),
        (
            XTA,
            json!({"externalIdSecretRef": {"key": "external id"}}),
            "spec.externalIdSecretRef.key",
            "Secret data key",
        ),
        (
            XTA,
            json!({"externalIdSecretRef": {"key": ".."}}),
            "spec.externalIdSecretRef.key",
            "Secret data key",
        ),
        (
            XTA,
            json!({"externalIdSecretRef": {"key": "..data"}}),
            "spec.externalIdSecretRef.key",
            "Secret data key",
        ),
        // Allow-lists and limits.
        (
            XTA,
            json!({"allowedApplications": ["web app"]}),
            "spec.allowedApplications",
            "every allowedApplications entry",
        ),
        (
            XTA,
            json!({"allowedDeploymentGroups": ["group/prod"]}),
            "spec.allowedDeploymentGroups",
            "every allowedDeploymentGroups entry",
        ),
        (
            XTA,
            json!({"allowedDeploymentConfigs": ["CodeDeployDefault One"]}),
            "spec.allowedDeploymentConfigs",
            "every allowedDeploymentConfigs entry",
        ),
        (
            XTA,
            json!({"allowedDeploymentConfigs": [""]}),
            "spec.allowedDeploymentConfigs",
            "every allowedDeploymentConfigs entry",
        ),
        (
            XTA,
            json!({"allowedRegions": ["EU-WEST-1"]}),
            "spec.allowedRegions",
            "every allowedRegions entry",
        ),
        (
            XTA,
            json!({"allowedRegions": ["eu west 1"]}),
            "spec.allowedRegions",
            "every allowedRegions entry",
        ),
        (
            XTA,
            json!({"requireAutoRollback": "yes"}),
            "spec.requireAutoRollback",
            "boolean",
        ),
    ]
}

fn deployments() -> Vec<(Kind, Value, &'static str, &'static str)> {
    let bucket = |b: &str| json!({"revision": {"s3": {"bucket": b}}});
    let source = |name: &str| json!({"revision": {"s3": null, "sourceRef": {"name": name}}});
    let bucket_field = "spec.revision.s3.bucket";
    let bucket_words = "valid S3 bucket name";
    vec![
        // References to other objects.
        (
            XAD,
            json!({"targetAccountRef": {"name": "a b"}}),
            "spec.targetAccountRef.name",
            "Kubernetes object name",
        ),
        (
            XAD,
            json!({"targetAccountRef": {"name": "Production"}}),
            "spec.targetAccountRef.name",
            "Kubernetes object name",
        ),
        (
            XAD,
            json!({"targetAccountRef": {"name": ""}}),
            "spec.targetAccountRef.name",
            "Kubernetes object name",
        ),
        (
            XAD,
            json!({"targetAccountRef": {"name": "prod_1"}}),
            "spec.targetAccountRef.name",
            "Kubernetes object name",
        ),
        (
            XAD,
            json!({"targetAccountRef": {"name": "-prod"}}),
            "spec.targetAccountRef.name",
            "Kubernetes object name",
        ),
        (
            XAD,
            json!({"targetAccountRef": {"name": long('p', 254)}}),
            "spec.targetAccountRef.name",
            "Too long",
        ),
        (
            XAD,
            source("Releases"),
            "spec.revision.sourceRef.name",
            "Kubernetes object name",
        ),
        (
            XAD,
            source("web releases"),
            "spec.revision.sourceRef.name",
            "Kubernetes object name",
        ),
        // CodeDeploy names.
        (
            XAD,
            json!({"applicationName": "web app"}),
            "spec.applicationName",
            "CodeDeploy's naming rules",
        ),
        (
            XAD,
            json!({"applicationName": ""}),
            "spec.applicationName",
            "CodeDeploy's naming rules",
        ),
        (
            XAD,
            json!({"applicationName": "web/app"}),
            "spec.applicationName",
            "CodeDeploy's naming rules",
        ),
        (
            XAD,
            json!({"applicationName": long('a', 101)}),
            "spec.applicationName",
            "Too long",
        ),
        (
            XAD,
            json!({"deploymentGroupName": "group#1"}),
            "spec.deploymentGroupName",
            "CodeDeploy's naming rules",
        ),
        (
            XAD,
            json!({"deploymentGroupName": "prod:blue"}),
            "spec.deploymentGroupName",
            "CodeDeploy's naming rules",
        ),
        (
            XAD,
            json!({"deploymentConfigName": "CodeDeployDefault.One At A Time"}),
            "spec.deploymentConfigName",
            "CodeDeploy's naming rules",
        ),
        (
            XAD,
            json!({"deploymentConfigName": ""}),
            "spec.deploymentConfigName",
            "CodeDeploy's naming rules",
        ),
        (
            XAD,
            json!({"region": "moon-base"}),
            "spec.region",
            "must look like us-east-1",
        ),
        // The marker is crossdeploy's alone.
        (
            XAD,
            json!({"description": "release 1 [crossdeploy:0b7c:1f2e]"}),
            "spec.description",
            "must not contain '[crossdeploy:'",
        ),
        (
            XAD,
            json!({"description": "[CrossDeploy:forged]"}),
            "spec.description",
            "must not contain '[crossdeploy:'",
        ),
        (
            XAD,
            json!({"description": long('d', 401)}),
            "spec.description",
            "Too long",
        ),
        // S3 bucket names, rule by rule.
        (XAD, bucket("Not_A_Bucket"), bucket_field, bucket_words),
        (XAD, bucket("ab"), bucket_field, bucket_words),
        (XAD, bucket(&long('b', 64)), bucket_field, "Too long"),
        (XAD, bucket("-bucket"), bucket_field, bucket_words),
        (XAD, bucket("bucket-"), bucket_field, bucket_words),
        (XAD, bucket("bucket.name."), bucket_field, bucket_words),
        (XAD, bucket("my..bucket"), bucket_field, "no two adjacent periods"),
        (XAD, bucket("192.168.5.4"), bucket_field, "IP address"),
        (XAD, bucket("xn--bucket"), bucket_field, "prefixes xn--"),
        (XAD, bucket("sthree-bucket"), bucket_field, "sthree-"),
        (XAD, bucket("sthree-configurator-bucket"), bucket_field, "sthree-"),
        (XAD, bucket("amzn-s3-demo-bucket"), bucket_field, "amzn-s3-demo-"),
        (XAD, bucket("releases-s3alias"), bucket_field, "-s3alias"),
        (XAD, bucket("releases--ol-s3"), bucket_field, "--ol-s3"),
        (XAD, bucket("releases.mrap"), bucket_field, ".mrap"),
        (XAD, bucket("releases--usw2-az1--x-s3"), bucket_field, "--x-s3"),
        (XAD, bucket("releases--table-s3"), bucket_field, "--table-s3"),
        // The rest of the revision.
        (
            XAD,
            json!({"revision": {"s3": {"key": "", "bundleType": "zip"}}}),
            "spec.revision.s3.key",
            "1 to 1024",
        ),
        (
            XAD,
            json!({"revision": {"s3": {"version": ""}}}),
            "spec.revision.s3.version",
            "must not be empty",
        ),
        (
            XAD,
            json!({"revision": {"s3": {"eTag": ""}}}),
            "spec.revision.s3.eTag",
            "must not be empty",
        ),
        (
            XAD,
            json!({"revision": {"sourceRef": {"name": "releases"}}}),
            "spec.revision",
            "exactly one of revision.s3 and revision.sourceRef",
        ),
        (
            XAD,
            json!({"revision": {"s3": {"key": "webapp/app.rpm"}}}),
            "spec.revision.s3",
            "bundleType is required",
        ),
        // Enumerations.
        (
            XAD,
            json!({"autoRollback": {"enabled": true, "events": ["DEPLOYMENT_FAILED"]}}),
            "spec.autoRollback.events[0]",
            "Unsupported value",
        ),
        (
            XAD,
            json!({"onActiveDeployment": "Replace"}),
            "spec.onActiveDeployment",
            "Unsupported value",
        ),
        (
            XAD,
            json!({"fileExistsBehavior": "overwrite"}),
            "spec.fileExistsBehavior",
            "Unsupported value",
        ),
    ]
}

fn sources() -> Vec<(Kind, Value, &'static str, &'static str)> {
    vec![
        (
            XRS,
            json!({"readAs": {"name": "Production"}}),
            "spec.readAs.name",
            "Kubernetes object name",
        ),
        (
            XRS,
            json!({"verifyFor": [{"name": "production"}, {"name": "not ok"}]}),
            "spec.verifyFor[1].name",
            "Kubernetes object name",
        ),
        (
            XRS,
            json!({"verifyFor": (0..17).map(|i| json!({"name": format!("t{i}")})).collect::<Vec<_>>()}),
            "spec.verifyFor",
            "at most 16",
        ),
        (
            XRS,
            json!({"s3": {"bucket": "Bad_Bucket"}}),
            "spec.s3.bucket",
            "valid S3 bucket name",
        ),
        (
            XRS,
            json!({"s3": {"bucket": "10.0.0.1"}}),
            "spec.s3.bucket",
            "IP address",
        ),
        (
            XRS,
            json!({"s3": {"bucket": "logs--use1-az4--x-s3"}}),
            "spec.s3.bucket",
            "--x-s3",
        ),
        (
            XRS,
            json!({"s3": {"region": "useast1xx"}}),
            "spec.s3.region",
            "must look like us-east-1",
        ),
        (
            XRS,
            json!({"s3": {"versionId": ""}}),
            "spec.s3.versionId",
            "must not be empty",
        ),
        (
            XRS,
            json!({"interval": 5}),
            "spec.interval",
            "greater than or equal to 10",
        ),
        (
            XRS,
            json!({"interval": 86401}),
            "spec.interval",
            "less than or equal to 86400",
        ),
        (
            XRS,
            json!({"selection": "Newest"}),
            "spec.selection",
            "Unsupported value",
        ),
    ]
}

/// Accepted as written: the edges of the rules above.
fn valid() -> Vec<(Kind, Value)> {
    let exact64 = format!("arn:aws:iam::222222222222:role/{}", long('r', 64));
    vec![
        (
            XTA,
            json!({"roleArn": "arn:aws-us-gov:iam::123456789012:role/path/to/CrossDeployDeployer", "region": "us-gov-west-1"}),
        ),
        (
            XTA,
            json!({"roleArn": exact64, "region": "cn-northwest-1", "sessionDurationSeconds": 43200}),
        ),
        (
            XTA,
            json!({"region": "us-isob-east-1", "roleChain": ["arn:aws:iam::111111111111:role/Hub"], "sessionDurationSeconds": 3600}),
        ),
        (
            XTA,
            json!({"sessionTags": [{"key": "Équipe", "value": ""}, {"key": "cost-center:id/1", "value": "a b=c+d@e"}]}),
        ),
        (
            XTA,
            json!({"namespaceSelector": {"matchLabels": {"example.com/team": ""}, "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "Exists"},
                {"key": "tier", "operator": "NotIn", "values": ["dev", "test"]},
            ]}}),
        ),
        (
            XTA,
            json!({"externalIdSecretRef": {"name": "prod.external-id", "key": "external-id.v1_2"}}),
        ),
        (
            XTA,
            json!({
                "allowedApplications": ["web*"], "allowedDeploymentGroups": ["*-prod"],
                "allowedDeploymentConfigs": ["CodeDeployDefault.OneAtATime", "Custom.*"],
                "requireAutoRollback": true, "allowedRegions": ["eu-*", "us-west-2"],
            }),
        ),
        (
            XAD,
            json!({"revision": {"s3": {"bucket": "abc"}}, "targetAccountRef": {"name": "prod.eu-1"}}),
        ),
        (XAD, json!({"revision": {"s3": {"bucket": long('b', 63)}}})),
        (
            XAD,
            json!({"revision": {"s3": {"bucket": "my.bucket.name", "version": "v1", "eTag": "\"abc\""}}}),
        ),
        (
            XAD,
            json!({"revision": {"s3": {"bucket": "s3alias-first.xn-single.sthree"}}}),
        ),
        (
            XAD,
            json!({"applicationName": "web.app_1+=,@-x", "deploymentGroupName": long('g', 100), "deploymentConfigName": "CodeDeployDefault.OneAtATime"}),
        ),
        (
            XAD,
            json!({"description": "deploys [crossdeploy] and crossdeploy: docs", "region": "ap-southeast-7"}),
        ),
        (
            XAD,
            json!({"revision": {"s3": null, "sourceRef": {"name": "webapp-releases"}}, "autoRollback": {"enabled": true, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}}),
        ),
        (
            XRS,
            json!({"s3": {"bucket": "1.2.3", "versionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}, "readAs": {"name": "production"}}),
        ),
        (
            XRS,
            json!({"s3": {"key": null, "prefix": "webapp/", "region": "eu-central-2"}, "selection": "HighestSemver", "interval": 10}),
        ),
    ]
}

struct Admission {
    client: kube::Client,
    ns: String,
}

impl Admission {
    fn api(&self, kind: Kind) -> Api<DynamicObject> {
        match kind {
            XTA => Api::all_with(self.client.clone(), &ApiResource::erase::<TargetAccount>(&())),
            XAD => Api::namespaced_with(
                self.client.clone(),
                &self.ns,
                &ApiResource::erase::<CrossAccountDeployment>(&()),
            ),
            XRS => Api::namespaced_with(
                self.client.clone(),
                &self.ns,
                &ApiResource::erase::<RevisionSource>(&()),
            ),
        }
    }

    /// Server-side dry-run create of the valid `kind` with `patch` merged in.
    async fn dry_run(&self, kind: Kind, patch: &Value) -> Result<DynamicObject, kube::Error> {
        let mut spec = base(kind);
        merge(&mut spec, patch);
        self.dry_run_exactly(kind, &spec).await
    }

    /// Server-side dry-run create of `kind` with exactly `spec`.
    async fn dry_run_exactly(&self, kind: Kind, spec: &Value) -> Result<DynamicObject, kube::Error> {
        let (api_version, plural) = match kind {
            XTA => ("crossdeploy.io/v1alpha1", "TargetAccount"),
            XAD => ("crossdeploy.io/v1alpha1", "CrossAccountDeployment"),
            XRS => ("crossdeploy.io/v1alpha1", "RevisionSource"),
        };
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": api_version,
            "kind": plural,
            "metadata": {"name": "admission-table"},
            "spec": spec,
        }))
        .expect("object");
        let dry_run = PostParams {
            dry_run: true,
            ..Default::default()
        };
        self.api(kind).create(&dry_run, &obj).await
    }
}

#[tokio::test]
async fn malformed_manifests_are_refused_naming_the_field() {
    let ctx = TestCtx::new("admission").await;
    let admission = Admission {
        client: ctx.client.clone(),
        ns: ctx.ns.clone(),
    };
    let cases = malformed();
    assert!(cases.len() >= 60, "the table holds {} manifests", cases.len());
    let mut wrong = Vec::new();
    for (i, (kind, patch, field, words)) in cases.iter().enumerate() {
        let result = admission.dry_run(*kind, patch).await;
        let status = match result {
            Err(kube::Error::Api(status)) => status,
            Ok(_) => {
                wrong.push(format!("#{i} {kind:?} {patch}: accepted, want {field} refused"));
                continue;
            }
            Err(e) => panic!("#{i} {kind:?} {patch}: {e}"),
        };
        let causes = status.details.as_ref().map(|d| d.causes.clone()).unwrap_or_default();
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        let named = fields.contains(field);
        // Only the changed field is wrong (the rest of the manifest is valid);
        // "<nil>" is the API server's note that CEL rules were skipped.
        let only = fields.iter().all(|f| f == field || *f == "<nil>" || f.is_empty());
        let worded = status.message.contains(words);
        if status.code != 422 || !named || !only || !worded {
            wrong.push(format!(
                "#{i} {kind:?} {patch}: want {field} ({words:?}), got {} {:?}: {}",
                status.code, fields, status.message
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    println!("{} malformed manifests refused, each naming its field", cases.len());

    for (kind, patch) in valid() {
        admission
            .dry_run(kind, &patch)
            .await
            .unwrap_or_else(|e| panic!("{kind:?} {patch} must be accepted: {e}"));
    }
}

/// The crossdeploy objects of the admin and application examples and of the
/// README's admin section, as written (namespaced ones in the test's
/// namespace), are accepted.
#[tokio::test]
async fn documented_manifests_are_accepted() {
    let ctx = TestCtx::new("admission-docs").await;
    let admission = Admission {
        client: ctx.client.clone(),
        ns: ctx.ns.clone(),
    };
    let repo = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{repo}/README.md")).expect("README");
    let start = readme
        .find("**Platform admin, once per account**")
        .expect("admin section");
    let section = &readme[start..];
    let section = &section[..section.find("### Continuous delivery").expect("section end")];
    let mut texts: Vec<String> = section
        .split("```yaml")
        .skip(1)
        .filter_map(|b| b.split("```").next().map(str::to_string))
        .collect();
    for example in ["01-platform-admin.yaml", "02-webapp-deployment.yaml"] {
        texts.push(std::fs::read_to_string(format!("{repo}/examples/{example}")).expect("example"));
    }
    let mut checked = 0;
    for doc in texts.iter().flat_map(|t| t.split("\n---")) {
        let Ok(obj) = serde_norway::from_str::<Value>(doc) else {
            continue;
        };
        let kind = match obj["kind"].as_str() {
            Some("TargetAccount") => XTA,
            Some("CrossAccountDeployment") => XAD,
            Some("RevisionSource") => XRS,
            _ => continue,
        };
        // Its spec, as a merge patch over nothing: dry-run it as written.
        admission
            .dry_run_exactly(kind, &obj["spec"])
            .await
            .unwrap_or_else(|e| panic!("{kind:?} {} must be accepted: {e}", obj["metadata"]["name"]));
        checked += 1;
    }
    assert!(checked >= 4, "README and examples hold {checked} crossdeploy objects");
}
