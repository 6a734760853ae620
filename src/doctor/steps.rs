//! The five steps of the guide, checked live. Each check says what was
//! looked at, by which identity, what was found and the fix; the decisions
//! are the operator's own (see the module docs of `doctor`).

use super::fixes::Fixes;
use super::report::{Check, Mark, Step};
use super::world::World;
use crate::access::{self, S3Location};
use crate::api::{BucketPolicyGrant, ResolvedRevision};
use crate::aws::codedeploy::{self, ACTIVE_STATUSES, GroupView};
use crate::aws::session::TargetClients;
use crate::aws::{AwsError, ErrorClass, s3, sts};
use crate::policy::sid;
use crate::revision::check::{self, ObjectSeen};
use crate::revision::look::{self, Existence, Looker};
use crate::revision::step2::PolicyFinding;
use crate::status::diagnosis::{Reader, Subject, diagnose};
use crate::status::{Failure, Reason};

pub const STEP1: &str = "S3 bucket for the revisions";
pub const STEP2: &str = "Bucket policy grants the production instance profile";
pub const STEP3: &str = "CodeDeploy resources and the cross-account role in production";
pub const STEP4: &str = "Revision uploaded";
pub const STEP5: &str = "Assume the role and deploy";

/// The cross-account role, once assumed.
struct Role<'a> {
    clients: &'a TargetClients,
    account: String,
}

/// What step 4 learned about the object, for step 2.
struct Object {
    revision: Option<ResolvedRevision>,
    kms_key: Option<String>,
}

pub async fn run(w: &World) -> Vec<Step> {
    let (role_checks, role) = assume(w).await;
    let (step1, owner) = bucket(w, role.as_ref()).await;
    let mut fixes = Fixes {
        names: w.fixes.names.clone(),
        selector: w.fixes.selector.clone(),
    };
    fixes.names.bucket_account = owner;
    let (step4, object) = revision(w, role.as_ref(), &fixes).await;
    let step2 = bucket_policy(w, role.as_ref(), &object, &fixes).await;
    let mut step3 = role_checks;
    let (resource_checks, group) = resources(w, role.as_ref(), &fixes).await;
    step3.extend(resource_checks);
    // Deploying needs the group: without it, ListDeployments would only repeat step 3.
    let step5 = deploy(w, role.as_ref().filter(|_| group.is_some()), &fixes).await;
    vec![
        Step::new(1, STEP1, step1),
        Step::new(2, STEP2, step2),
        Step::new(3, STEP3, step3),
        Step::new(4, STEP4, step4),
        Step::new(5, STEP5, step5),
    ]
}

/// A failure as the operator reports it: its message and reason; a
/// transient one cannot decide anything (?).
fn failed(what: impl Into<String>, f: &Failure) -> Check {
    let mark = if f.retryable { Mark::Unknown } else { Mark::Fail };
    Check::new(mark, what, f.message.clone()).reason(f.reason)
}

fn skipped(what: &str, why: &str) -> Check {
    Check::new(Mark::Skipped, what, format!("not checked: {why}"))
}

const NOT_ASSUMED: &str = "the cross-account role could not be assumed";

fn operator_who(w: &World) -> String {
    match &w.own {
        Ok(c) => format!("the operator's own identity {}", c.arn),
        Err(_) => "the operator's own identity".into(),
    }
}

/// Guide step 3 (and 5): the role trusts the operator with the ExternalId;
/// STS names the account the role ARN names.
async fn assume(w: &World) -> (Vec<Check>, Option<Role<'_>>) {
    let mut checks = Vec::new();
    let what = format!("sts:AssumeRole {}", w.role_arn());
    let clients = match &w.session {
        Ok(clients) => clients,
        Err(f) => {
            let fix = w.spec.external_id_secret_ref.as_ref().map(|r| {
                format!(
                    "create it: kubectl -n <operator namespace> create secret generic {} --from-literal={}=<the \
                     ExternalId of the role's trust policy>",
                    r.name, r.key
                )
            });
            checks.push(failed("ExternalId Secret", f).fix_opt(fix));
            return (checks, None);
        }
    };
    if let Some(from) = &w.external_id_from {
        checks.push(Check::new(
            Mark::Pass,
            "ExternalId",
            format!("read from {from}; only ever passed to STS"),
        ));
    }
    match sts::caller(&clients.sts).await {
        Ok(c) if w.spec.account_id().is_some_and(|a| a != c.account) => {
            let f = Failure::permanent(
                Reason::AssumeRoleDenied,
                format!(
                    "the assumed role reports account {}, but roleArn names {}",
                    c.account,
                    w.role_arn()
                ),
            );
            checks.push(failed(what, &f).by(operator_who(w)));
            (checks, None)
        }
        Ok(c) => {
            checks.push(Check::new(Mark::Pass, what, assumed_detail(w, &c.arn)).by(operator_who(w)));
            (
                checks,
                Some(Role {
                    clients,
                    account: c.account,
                }),
            )
        }
        Err(e) => {
            let f = diagnose(&e, &Subject::Role { role_arn: w.role_arn() });
            let fix = (e.class == ErrorClass::AssumeRoleDenied).then(|| w.fixes.assume_role());
            checks.push(failed(what, &f).by(operator_who(w)).fix_opt(fix));
            (checks, None)
        }
    }
}

fn assumed_detail(w: &World, session_arn: &str) -> String {
    let mut with = Vec::new();
    if w.external_id_from.is_some() {
        with.push("the ExternalId".to_string());
    }
    if !w.spec.session_tags.is_empty() {
        with.push(format!("{} session tag(s)", w.spec.session_tags.len()));
    }
    if !w.spec.role_chain.is_empty() {
        with.push(format!("a chain of {} role(s)", w.spec.role_chain.len()));
    }
    let with = if with.is_empty() {
        String::new()
    } else {
        format!(" with {}", with.join(", "))
    };
    format!("assumed{with}; STS says {session_arn}")
}

fn role_looker<'a>(w: &World, role: Option<&'a Role<'a>>) -> Option<Looker<'a>> {
    role.map(|r| Looker::cross_account_role(w.role_arn(), Some(r.account.clone()), &r.clients.s3))
}

fn operator_looker(w: &World) -> Looker<'_> {
    Looker::operator(w.own.as_ref().ok().map(|c| c.account.clone()), &w.own_s3)
}

fn which_account(w: &World, account: &str) -> &'static str {
    if Some(account) == w.spec.account_id() {
        "the production account"
    } else if w.own.as_ref().is_ok_and(|c| c.account == account) {
        "the development account"
    } else {
        "another account"
    }
}

/// Guide step 1: the bucket exists; whose account it is in (HeadBucket with
/// ExpectedBucketOwner, by the operator's identity, then the role's).
async fn bucket(w: &World, role: Option<&Role<'_>>) -> (Vec<Check>, Option<String>) {
    let Some(bucket) = &w.bucket else {
        return (
            vec![skipped("bucket", "no bucket named (--bucket, or --deployment)")],
            None,
        );
    };
    let what = format!("s3:HeadBucket {bucket}");
    let mut lookers = vec![operator_looker(w)];
    lookers.extend(role_looker(w, role));
    let mut refused = Vec::new();
    for l in &lookers {
        match s3::head_bucket(l.s3, bucket, l.account.as_deref()).await {
            Ok(()) => {
                let account = l.account.clone().unwrap_or_default();
                let detail = format!("exists, in account {account} ({})", which_account(w, &account));
                return (vec![Check::new(Mark::Pass, what, detail).by(&l.who)], l.account.clone());
            }
            Err(e) if e.class == ErrorClass::NotFound => {
                let detail = format!("bucket {bucket} does not exist ({})", e.code);
                let fix = "guide step 1: create the bucket in the development account (or the production \
                           account), or fix spec.revision.s3.bucket";
                let check = Check::new(Mark::Fail, what, detail).by(&l.who).fix(fix);
                return (vec![check.reason(Reason::RevisionNotFound)], None);
            }
            Err(e) if e.class == ErrorClass::AccessDenied => refused.push(format!("{}: {}", l.who, e.code)),
            Err(e) => return (vec![transient(what, &e).by(&l.who)], None),
        }
    }
    let detail = format!("no identity crossdeploy uses may look at it ({})", refused.join("; "));
    let check = Check::new(Mark::Unknown, what, detail).fix_opt(w.fixes.reader(sid::LIST_BUCKETS));
    (vec![check], None)
}

fn transient(what: String, e: &AwsError) -> Check {
    Check::new(Mark::Unknown, what, format!("{e}; try again"))
}

/// Guide step 4: the object exists (HeadObject, the role first, then the
/// operator's identity: `look::existence`, as the operator looks), and its
/// ETag is the pinned one.
async fn revision(w: &World, role: Option<&Role<'_>>, fixes: &Fixes) -> (Vec<Check>, Object) {
    let none = Object {
        revision: None,
        kms_key: None,
    };
    let Some(wanted) = &w.wanted else {
        let why = "no revision named (--bucket and --key, or --deployment)";
        return (vec![skipped("revision", why)], none);
    };
    let what = format!("s3:HeadObject {}", wanted.location);
    let mut lookers: Vec<Looker<'_>> = role_looker(w, role).into_iter().collect();
    lookers.push(operator_looker(w));
    match look::existence(&w.memory, &lookers, &wanted.s3, &wanted.bundle_type).await {
        Existence::Found { head, by } => {
            let r = &head.revision;
            let detail = format!(
                "exists: version {}, ETag {}, {} bytes, bundle type {}",
                r.version_id.as_deref().unwrap_or("none (unversioned)"),
                r.e_tag.as_deref().unwrap_or("none"),
                r.size.unwrap_or_default(),
                r.bundle_type
            );
            let mut checks = vec![Check::new(Mark::Pass, what, detail).by(by)];
            if let Some(f) = check::etag_mismatch(wanted.s3.e_tag.as_deref(), r) {
                checks.push(failed("ETag pin", &f));
            }
            let object = Object {
                revision: Some(head.revision.clone()),
                kms_key: head.kms_key.clone(),
            };
            (checks, object)
        }
        Existence::Missing { error, by } => {
            let subject = Subject::Revision {
                reader: Reader::Deployer { role_arn: w.role_arn() },
                bucket: &wanted.s3.bucket,
                location: &wanted.location,
            };
            let f = diagnose(&error, &subject);
            let fix = format!(
                "upload it (aws s3 cp <bundle> s3://{}/{}), or fix spec.revision.s3",
                wanted.s3.bucket, wanted.s3.key
            );
            (vec![failed(what, &f).by(by).fix(fix)], none)
        }
        Existence::Unknown(why) => {
            let detail = format!("no identity crossdeploy uses may read it ({why})");
            let check = Check::new(Mark::Unknown, what, detail).fix_opt(fixes.reader(sid::READ_REVISIONS));
            (vec![check], none)
        }
        Existence::Failed { error, by } => (vec![transient(what, &error).by(by)], none),
    }
}

/// Guide step 2: the bucket policy, read by an identity of the owner's
/// account and evaluated offline, grants the instance profile role — the
/// operator's `look::instance_profile_grant`, judged by `check::judge`.
async fn bucket_policy(w: &World, role: Option<&Role<'_>>, object: &Object, fixes: &Fixes) -> Vec<Check> {
    let Some(wanted) = &w.wanted else {
        return vec![skipped(
            "bucket policy",
            "no revision named (--bucket and --key, or --deployment)",
        )];
    };
    let revision = object.revision.clone().unwrap_or_else(|| ResolvedRevision {
        bucket: wanted.s3.bucket.clone(),
        key: wanted.s3.key.clone(),
        version_id: wanted.s3.version.clone(),
        bundle_type: wanted.bundle_type.clone(),
        ..Default::default()
    });
    let mut lookers = vec![operator_looker(w)];
    lookers.extend(role_looker(w, role));
    let subject = Subject::Revision {
        reader: Reader::Deployer { role_arn: w.role_arn() },
        bucket: &wanted.s3.bucket,
        location: &wanted.location,
    };
    let instance_role = w.spec.instance_profile_role_arn.as_deref();
    let grant = look::instance_profile_grant(&w.memory, &lookers, instance_role, &revision, &subject).await;
    let seen = ObjectSeen::Found {
        by: "",
        kms_key: object.kms_key.as_deref(),
    };
    let (judged, failure) = check::judge(&wanted.location, &seen, &grant.finding);
    let what = format!("s3:GetBucketPolicy {}", wanted.s3.bucket);
    let mut check = step2_check(what, &grant.finding, judged.bucket_policy, failure.as_ref(), w, fixes);
    if let Some((by, _)) = &grant.read {
        check = check.by(by);
    }
    let mut checks = vec![check];
    if let (Some(key), Some(note)) = (&object.kms_key, judged.notes.iter().find(|n| n.contains("kms:Decrypt"))) {
        checks.push(Check::new(Mark::Unknown, format!("KMS key {key}"), note.clone()));
    }
    checks
}

fn step2_check(
    what: String,
    finding: &PolicyFinding,
    grant: BucketPolicyGrant,
    failure: Option<&Failure>,
    w: &World,
    fixes: &Fixes,
) -> Check {
    let role = w.spec.instance_profile_role_arn.as_deref().unwrap_or_default();
    let bucket = w.bucket.as_deref().unwrap_or_default();
    match (grant, finding, failure) {
        (_, _, Some(f)) if f.retryable => failed(what, f),
        (BucketPolicyGrant::Granted, _, _) => Check::new(
            Mark::Pass,
            what,
            format!("grants the instance profile role {role} read access"),
        ),
        (BucketPolicyGrant::NotRequired, _, _) => Check::new(
            Mark::Pass,
            what,
            "the bucket is in the production account: no grant is needed (guide step 2 does not apply)",
        ),
        (_, PolicyFinding::NotGranted(message), _) => {
            // The operator's message ends with the statement; the fix says it once.
            let said = message
                .split(" Add this statement to the bucket policy:")
                .next()
                .unwrap_or(message);
            let f = Failure::permanent(Reason::BucketPolicyMissingGrant, said);
            failed(what, &f).fix_opt(fixes.bucket(bucket))
        }
        (_, PolicyFinding::NotChecked(why), _) => Check::new(Mark::Unknown, what, why.clone()).fix(
            "set spec.instanceProfileRoleArn of the TargetAccount (or --instance-profile-role-arn) to the role of \
             the production instance profile",
        ),
        (_, PolicyFinding::Undetermined(why), _) if why.contains("could not be read") => {
            Check::new(Mark::Unknown, what, why.clone()).fix_opt(fixes.reader(sid::READ_BUCKET_POLICY))
        }
        (_, PolicyFinding::Undetermined(why), _) => Check::new(Mark::Unknown, what, why.clone()).fix(format!(
            "check by hand that the bucket policy of {bucket} grants {role} s3:GetObject"
        )),
        (_, _, Some(f)) => failed(what, f),
        _ => Check::new(Mark::Unknown, what, "no finding"),
    }
}

fn codedeploy_subject<'a>(w: &'a World, application: &'a str, group: &'a str) -> Subject<'a> {
    Subject::CodeDeploy {
        role_arn: w.role_arn(),
        application,
        group,
    }
}

/// A CodeDeploy error as the operator diagnoses it, with the statement that
/// grants the call when it was refused.
fn codedeploy_failed(what: String, e: &AwsError, subject: &Subject<'_>, fixes: &Fixes, statement: &str) -> Check {
    let f = diagnose(e, subject);
    let fix = match e.class {
        ErrorClass::AccessDenied => fixes.role(statement),
        ErrorClass::ApplicationNotFound => {
            Some("guide step 3: create the application in the production account, or fix spec.applicationName".into())
        }
        ErrorClass::DeploymentGroupNotFound => Some(
            "guide step 3: create the deployment group in the production account, or fix spec.deploymentGroupName"
                .into(),
        ),
        _ => None,
    };
    failed(what, &f).fix_opt(fix)
}

/// Guide step 3: the application, deployment group and deployment config
/// exist in production, and the role may read them. Also returns the group,
/// when it could be read.
async fn resources(w: &World, role: Option<&Role<'_>>, fixes: &Fixes) -> (Vec<Check>, Option<GroupView>) {
    let (Some(app), Some(group)) = (&w.application, &w.group) else {
        let why = "no application and deployment group named (--application and --deployment-group, or --deployment)";
        return (vec![skipped("CodeDeploy application and group", why)], None);
    };
    let Some(role) = role else {
        return (vec![skipped("CodeDeploy application and group", NOT_ASSUMED)], None);
    };
    let cd = &role.clients.codedeploy;
    let subject = codedeploy_subject(w, app, group);
    let by = format!("the cross-account role {}", w.role_arn());
    let mut checks = Vec::new();
    let what = format!("codedeploy:GetApplication {app}");
    checks.push(match codedeploy::application(cd, app).await {
        Ok(platform) => Check::new(
            Mark::Pass,
            what,
            format!("exists (compute platform {})", platform.as_deref().unwrap_or("unknown")),
        ),
        Err(e) => codedeploy_failed(what, &e, &subject, fixes, sid::READ_APPLICATION),
    });
    let what = format!("codedeploy:GetDeploymentGroup {app}/{group}");
    let view = match codedeploy::deployment_group(cd, app, group).await {
        Ok(view) => {
            let config = view.deployment_config.as_deref().unwrap_or("none");
            checks.push(Check::new(
                Mark::Pass,
                what,
                format!("exists (deployment config {config})"),
            ));
            Some(view)
        }
        Err(e) => {
            checks.push(codedeploy_failed(what, &e, &subject, fixes, sid::READ_GROUP));
            None
        }
    };
    checks.extend(config(w, role, view.as_ref(), &subject, fixes).await);
    (checks.into_iter().map(|c| c.by(by.clone())).collect(), view)
}

/// The deployment config the deployments use: named in the spec, else the group's.
async fn config(
    w: &World,
    role: &Role<'_>,
    view: Option<&GroupView>,
    subject: &Subject<'_>,
    fixes: &Fixes,
) -> Option<Check> {
    let name = w
        .config
        .clone()
        .or_else(|| view.and_then(|v| v.deployment_config.clone()))?;
    let what = format!("codedeploy:GetDeploymentConfig {name}");
    Some(
        match codedeploy::deployment_config(&role.clients.codedeploy, &name).await {
            Ok(hosts) => Check::new(
                Mark::Pass,
                what,
                format!(
                    "exists (minimum healthy hosts {})",
                    hosts.as_deref().unwrap_or("unknown")
                ),
            ),
            Err(e) if e.code == "DeploymentConfigDoesNotExistException" => Check::new(
                Mark::Fail,
                what,
                format!("does not exist in the production account ({})", e.message),
            )
            .reason(Reason::AwsRequestRejected)
            .fix("guide step 3: create the deployment config, or fix spec.deploymentConfigName"),
            Err(e) => codedeploy_failed(what, &e, subject, fixes, sid::READ_CONFIG),
        },
    )
}

/// Guide step 5, as crossdeploy does it: the namespace may use the
/// TargetAccount for this application and group (tenancy, checked before any
/// AWS call), and the role may list the group's deployments, as the operator
/// does before creating one. CreateDeployment itself is not tried: doctor
/// never deploys.
async fn deploy(w: &World, role: Option<&Role<'_>>, fixes: &Fixes) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(tenancy(w));
    let (Some(app), Some(group)) = (&w.application, &w.group) else {
        checks.push(skipped(
            "codedeploy:ListDeployments",
            "no application and deployment group named",
        ));
        return checks;
    };
    let what = format!("codedeploy:ListDeployments {app}/{group}");
    let Some(role) = role else {
        checks.push(skipped(&what, "the deployment group could not be read (step 3)"));
        return checks;
    };
    let by = format!("the cross-account role {}", w.role_arn());
    let subject = codedeploy_subject(w, app, group);
    checks.push(
        match codedeploy::list_deployments(&role.clients.codedeploy, app, group, &ACTIVE_STATUSES, None).await {
            Ok(active) => {
                let now = match active.first() {
                    None => "no deployment is active in the group: a new one starts at once".to_string(),
                    Some(d) => format!(
                        "{} ({}, created by {}) is active: crossdeploy waits for it (onActiveDeployment Wait) or \
                         stops it (StopAndReplace; never one CodeDeploy started itself)",
                        d.id,
                        d.status,
                        d.creator.as_str()
                    ),
                };
                let detail = format!("{now}; CreateDeployment is not tried (doctor never deploys)");
                Check::new(Mark::Pass, what, detail)
            }
            Err(e) => codedeploy_failed(what, &e, &subject, fixes, sid::DEPLOY),
        }
        .by(by),
    );
    checks
}

/// Tenancy: may the namespace use this TargetAccount for this deployment,
/// and name this revision? `access::check` and `access::check_revision`, as
/// every reconcile asks first.
fn tenancy(w: &World) -> Option<Check> {
    let (ns, labels) = w.tenancy.as_ref()?;
    let name = w.target_name.as_deref()?;
    let deployment = w.deployment.as_ref()?;
    let what = format!("TargetAccount {name} for namespace {ns}");
    let revision = deployment
        .revision
        .as_ref()
        .and_then(|r| r.s3.as_ref())
        .map(|s3| S3Location::Object {
            bucket: &s3.bucket,
            key: &s3.key,
        });
    let refused = access::check(&w.spec, labels, deployment)
        .and_then(|()| revision.map_or(Ok(()), |r| access::check_revision(&w.spec, r)));
    let (app, group) = (&deployment.application_name, &deployment.deployment_group_name);
    Some(match refused {
        Ok(()) => Check::new(
            Mark::Pass,
            what,
            format!("admits {app}/{group} and its revision from namespace {ns}"),
        ),
        Err(refusal) => Check::new(Mark::Fail, what, refusal.explain(ns))
            .reason(Reason::TargetAccountNotPermitted)
            .fix(format!(
                "the rules of TargetAccount {name} decide (namespaceSelector, allowedApplications, \
                 allowedDeploymentGroups, allowedDeploymentConfigs, requireAutoRollback, allowedRegions, \
                 allowedRevisionBuckets): change the deployment, or ask a platform admin"
            )),
    })
}
