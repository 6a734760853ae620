//! Guide step 2 checked offline: does a bucket policy grant the production
//! account's instance profile role read access to a revision?
//!
//! Only the subset of IAM policy language whose meaning is certain without
//! request context is evaluated: Effect, Principal, Action and Resource with
//! wildcards. Anything else a relevant statement uses (Condition, NotAction,
//! NotPrincipal, NotResource, policy variables, principals given as unique
//! ids) makes the answer [`Grant::Undetermined`] rather than a guess.

use serde_json::Value;

/// What a bucket policy means for one role reading one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    Granted,
    /// No statement grants `missing`; `denied_by` names an explicit Deny that
    /// matches (an added Allow would not help then).
    NotGranted {
        missing: Vec<&'static str>,
        denied_by: Option<String>,
    },
    /// Why the policy's effect cannot be told from the document alone.
    Undetermined(String),
}

/// The role that must read, and what it must read.
pub struct Request<'a> {
    pub role_arn: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Reading a specific version needs s3:GetObjectVersion as well.
    pub versioned: bool,
}

impl Request<'_> {
    /// What the CodeDeploy agent calls. The guide's template also grants
    /// s3:List*, but ListBucket applies to the bucket ARN, not to objects, so
    /// it is not required here.
    fn actions(&self) -> Vec<&'static str> {
        if self.versioned {
            vec!["s3:GetObject", "s3:GetObjectVersion"]
        } else {
            vec!["s3:GetObject"]
        }
    }

    fn account(&self) -> Option<&str> {
        self.role_arn.split(':').nth(4).filter(|a| a.len() == 12)
    }

    fn partition(&self) -> &str {
        self.role_arn.split(':').nth(1).unwrap_or("aws")
    }

    fn object_arn(&self) -> String {
        format!("arn:{}:s3:::{}/{}", self.partition(), self.bucket, self.key)
    }
}

/// Evaluate `policy` (None: the bucket has no policy) for `req`.
pub fn evaluate(policy: Option<&str>, req: &Request<'_>) -> Grant {
    let Some(text) = policy.filter(|p| !p.trim().is_empty()) else {
        return Grant::NotGranted {
            missing: req.actions(),
            denied_by: None,
        };
    };
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Grant::Undetermined(format!("the bucket policy is not valid JSON ({e})")),
    };
    let statements = match &doc["Statement"] {
        Value::Array(list) => list.iter().collect(),
        Value::Null => Vec::new(),
        single => vec![single],
    };
    let resource = req.object_arn();
    let mut missing = Vec::new();
    let mut undetermined = Vec::new();
    for action in req.actions() {
        match evaluate_action(&statements, req, action, &resource) {
            Outcome::Allowed => {}
            Outcome::Denied(sid) => {
                return Grant::NotGranted {
                    missing: vec![action],
                    denied_by: Some(sid),
                };
            }
            Outcome::Missing => missing.push(action),
            Outcome::Unknown(why) => undetermined.push(why),
        }
    }
    if !missing.is_empty() {
        Grant::NotGranted {
            missing,
            denied_by: None,
        }
    } else if !undetermined.is_empty() {
        undetermined.dedup();
        Grant::Undetermined(undetermined.join("; "))
    } else {
        Grant::Granted
    }
}

/// The statement of guide step 2 that grants `role_arn` read access to the
/// objects of `bucket`, as JSON to paste into the bucket policy.
pub fn grant_statement(role_arn: &str, bucket: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let partition = role_arn.split(':').nth(1).unwrap_or("aws");
    format!(
        r#"{{"Sid": "Cross-account permissions", "Effect": "Allow", "Principal": {{"AWS": {}}}, "Action": ["s3:Get*","s3:List*"], "Resource": [{}]}}"#,
        quote(role_arn),
        quote(&format!("arn:{partition}:s3:::{bucket}/*"))
    )
}

enum Outcome {
    Allowed,
    Denied(String),
    Missing,
    Unknown(String),
}

/// Three-valued: a statement element matches, does not, or cannot be told.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Unknown(String),
}

impl Tri {
    /// Conjunction where a definite No wins over Unknown: a statement that
    /// certainly does not apply needs no further thought.
    fn and(self, other: impl FnOnce() -> Tri) -> Tri {
        match self {
            Tri::No => Tri::No,
            Tri::Yes => other(),
            Tri::Unknown(why) => match other() {
                Tri::No => Tri::No,
                _ => Tri::Unknown(why),
            },
        }
    }

    /// Disjunction over the values of one element.
    fn any(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut unknown = None;
        for t in items {
            match t {
                Tri::Yes => return Tri::Yes,
                Tri::Unknown(why) => unknown = unknown.or(Some(why)),
                Tri::No => {}
            }
        }
        unknown.map_or(Tri::No, Tri::Unknown)
    }
}

/// Explicit Deny wins; otherwise an Allow is needed.
fn evaluate_action(statements: &[&Value], req: &Request<'_>, action: &str, resource: &str) -> Outcome {
    let mut allowed = false;
    let mut allow_unknown = None;
    let mut deny_unknown = None;
    for (i, st) in statements.iter().enumerate() {
        let name = statement_name(st, i);
        let applies = applies(st, req, action, resource, &name);
        match (st["Effect"].as_str(), applies) {
            (_, Tri::No) => {}
            (Some("Deny"), Tri::Yes) => return Outcome::Denied(name),
            (Some("Deny"), Tri::Unknown(why)) => deny_unknown = deny_unknown.or(Some(why)),
            (Some("Allow"), Tri::Yes) => allowed = true,
            (Some("Allow"), Tri::Unknown(why)) => allow_unknown = allow_unknown.or(Some(why)),
            (other, _) => {
                let why = format!("{name} has Effect {other:?}, which is neither Allow nor Deny");
                allow_unknown = allow_unknown.or(Some(why));
            }
        }
    }
    match (allowed, allow_unknown, deny_unknown) {
        (false, None, _) => Outcome::Missing,
        (_, _, Some(why)) => Outcome::Unknown(why),
        (true, _, None) => Outcome::Allowed,
        (false, Some(why), None) => Outcome::Unknown(why),
    }
}

fn statement_name(st: &Value, index: usize) -> String {
    match st["Sid"].as_str() {
        Some(sid) if !sid.is_empty() => format!("statement {sid:?}"),
        _ => format!("statement #{}", index + 1),
    }
}

fn applies(st: &Value, req: &Request<'_>, action: &str, resource: &str, name: &str) -> Tri {
    principal_matches(st, req, name)
        .and(|| action_matches(st, action, name))
        .and(|| resource_matches(st, resource, name))
        .and(|| {
            if st.get("Condition").is_some() {
                Tri::Unknown(format!(
                    "{name} has a Condition, which crossdeploy does not evaluate (it depends on the request)"
                ))
            } else {
                Tri::Yes
            }
        })
}

fn principal_matches(st: &Value, req: &Request<'_>, name: &str) -> Tri {
    if st.get("NotPrincipal").is_some() {
        return Tri::Unknown(format!("{name} uses NotPrincipal, which crossdeploy does not evaluate"));
    }
    match st.get("Principal") {
        Some(Value::String(s)) if s == "*" => Tri::Yes,
        Some(Value::Object(map)) => Tri::any(
            map.iter()
                .flat_map(|(kind, v)| values(v).into_iter().map(move |v| (kind.as_str(), v)))
                .map(|(kind, v)| match (kind, v) {
                    ("AWS", Some(v)) => aws_principal_matches(v, req, name),
                    ("AWS", None) => Tri::Unknown(format!("{name} has a Principal.AWS that is not a string")),
                    // Service, Federated and CanonicalUser principals are never an IAM role.
                    _ => Tri::No,
                }),
        ),
        None => Tri::Unknown(format!("{name} has no Principal")),
        Some(other) => Tri::Unknown(format!("{name} has an unrecognized Principal {other}")),
    }
}

fn aws_principal_matches(value: &str, req: &Request<'_>, name: &str) -> Tri {
    let account = req.account();
    if value == "*" || value == req.role_arn {
        return Tri::Yes;
    }
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return if Some(value) == account { Tri::Yes } else { Tri::No };
    }
    if let Some(rest) = value.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if let [_, "iam", "", acct, "root"] = parts.as_slice() {
            return if Some(*acct) == account { Tri::Yes } else { Tri::No };
        }
        // Some other user, role or session: not this role.
        return Tri::No;
    }
    // IAM shows a unique id (AROA...) when the named principal was deleted.
    Tri::Unknown(format!(
        "{name} names principal {value:?}, which is neither an ARN nor an account id"
    ))
}

fn action_matches(st: &Value, action: &str, name: &str) -> Tri {
    if st.get("NotAction").is_some() {
        return Tri::Unknown(format!("{name} uses NotAction, which crossdeploy does not evaluate"));
    }
    let Some(actions) = st.get("Action") else {
        return Tri::Unknown(format!("{name} has no Action"));
    };
    Tri::any(values(actions).into_iter().map(|a| match a {
        Some(a) if glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()) => Tri::Yes,
        Some(_) => Tri::No,
        None => Tri::Unknown(format!("{name} has an Action that is not a string")),
    }))
}

fn resource_matches(st: &Value, resource: &str, name: &str) -> Tri {
    if st.get("NotResource").is_some() {
        return Tri::Unknown(format!("{name} uses NotResource, which crossdeploy does not evaluate"));
    }
    let Some(resources) = st.get("Resource") else {
        return Tri::Unknown(format!("{name} has no Resource"));
    };
    Tri::any(values(resources).into_iter().map(|r| match r {
        Some(r) if r.contains("${") => Tri::Unknown(format!(
            "{name} uses a policy variable in Resource, which depends on the request"
        )),
        Some(r) if glob(r, resource) => Tri::Yes,
        Some(_) => Tri::No,
        None => Tri::Unknown(format!("{name} has a Resource that is not a string")),
    }))
}

/// A string or a list of strings; None marks a non-string entry.
fn values(v: &Value) -> Vec<Option<&str>> {
    match v {
        Value::Array(list) => list.iter().map(Value::as_str).collect(),
        other => vec![other.as_str()],
    }
}

/// IAM wildcards: `*` any run of characters, `?` exactly one; everything
/// else is literal (IAM has no character classes, alternatives or escapes).
fn glob(pattern: &str, value: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::222222222222:role/CodeDeployInstanceRole";
    const BUCKET: &str = "revs";
    const KEY: &str = "webapp/webapp-1.0.0.zip";

    fn req(versioned: bool) -> Request<'static> {
        Request {
            role_arn: ROLE,
            bucket: BUCKET,
            key: KEY,
            versioned,
        }
    }

    fn policy(statements: Value) -> String {
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    fn allow(principal: Value, action: Value, resource: Value) -> Value {
        json!({"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource})
    }

    fn eval(statements: Value) -> Grant {
        evaluate(Some(&policy(statements)), &req(true))
    }

    fn kind(g: &Grant) -> &'static str {
        match g {
            Grant::Granted => "granted",
            Grant::NotGranted { denied_by: Some(_), .. } => "denied",
            Grant::NotGranted { .. } => "missing",
            Grant::Undetermined(_) => "undetermined",
        }
    }

    #[test]
    fn the_guides_template_grants() {
        let stmt: Value = serde_json::from_str(&grant_statement(ROLE, BUCKET)).unwrap();
        assert_eq!(eval(json!([stmt])), Grant::Granted);
        assert!(grant_statement(ROLE, BUCKET).contains(r#""Action": ["s3:Get*","s3:List*"]"#));
        assert!(grant_statement(ROLE, BUCKET).contains(r#""Resource": ["arn:aws:s3:::revs/*"]"#));
    }

    #[test]
    fn principal_forms() {
        let any_action = json!("s3:*");
        let objects = json!("arn:aws:s3:::revs/*");
        let table = [
            (json!("*"), "granted"),
            (json!({"AWS": "*"}), "granted"),
            (json!({"AWS": ROLE}), "granted"),
            (
                json!({"AWS": [ "arn:aws:iam::222222222222:role/Other", ROLE]}),
                "granted",
            ),
            (json!({"AWS": "222222222222"}), "granted"),
            (json!({"AWS": "arn:aws:iam::222222222222:root"}), "granted"),
            (json!({"AWS": "arn:aws:iam::333333333333:root"}), "missing"),
            (json!({"AWS": "333333333333"}), "missing"),
            (json!({"AWS": "arn:aws:iam::222222222222:role/Other"}), "missing"),
            (
                json!({"AWS": "arn:aws:sts::222222222222:assumed-role/CodeDeployInstanceRole/i-1"}),
                "missing",
            ),
            (json!({"Service": "ec2.amazonaws.com"}), "missing"),
            (json!({"AWS": "AROAEXAMPLEUNIQUEID"}), "undetermined"),
            (json!({"AWS": ["AROAEXAMPLEUNIQUEID", ROLE]}), "granted"),
            (json!(42), "undetermined"),
        ];
        for (principal, want) in table {
            let g = eval(json!([allow(principal.clone(), any_action.clone(), objects.clone())]));
            assert_eq!(kind(&g), want, "{principal}: {g:?}");
        }
    }

    #[test]
    fn action_wildcards() {
        let table = [
            (json!("*"), "granted"),
            (json!("s3:*"), "granted"),
            (json!("S3:GET*"), "granted"),
            (json!(["s3:Get*", "s3:List*"]), "granted"),
            (json!("s3:GetObject*"), "granted"),
            (json!("s3:GetObjec?"), "missing"),
            (json!(["s3:GetObject", "s3:GetObjectVersion"]), "granted"),
            (json!("s3:GetObject"), "missing"),
            (json!("s3:List*"), "missing"),
            (json!("s3:PutObject"), "missing"),
        ];
        for (action, want) in table {
            let g = eval(json!([allow(
                json!({"AWS": ROLE}),
                action.clone(),
                json!("arn:aws:s3:::revs/*")
            )]));
            assert_eq!(kind(&g), want, "{action}: {g:?}");
        }
        // Without a version, GetObject alone is enough.
        let only_get = policy(json!([allow(
            json!({"AWS": ROLE}),
            json!("s3:GetObject"),
            json!("arn:aws:s3:::revs/*")
        )]));
        assert_eq!(evaluate(Some(&only_get), &req(false)), Grant::Granted);
    }

    #[test]
    fn resource_wildcards() {
        let table = [
            (json!("*"), "granted"),
            (json!("arn:aws:s3:::revs/*"), "granted"),
            (json!("arn:aws:s3:::revs/webapp/*"), "granted"),
            (json!("arn:aws:s3:::revs/webapp*"), "granted"),
            (json!("arn:aws:s3:::revs/webapp/webapp-?.0.0.zip"), "granted"),
            (json!(["arn:aws:s3:::revs", "arn:aws:s3:::revs/*"]), "granted"),
            (json!("arn:aws:s3:::revs"), "missing"),
            (json!("arn:aws:s3:::revs/other/*"), "missing"),
            (json!("arn:aws:s3:::REVS/*"), "missing"),
            (json!("arn:aws:s3:::other/*"), "missing"),
            (json!("arn:aws:s3:::revs/${aws:username}/*"), "undetermined"),
        ];
        for (resource, want) in table {
            let g = eval(json!([allow(json!({"AWS": ROLE}), json!("s3:Get*"), resource.clone())]));
            assert_eq!(kind(&g), want, "{resource}: {g:?}");
        }
    }

    #[test]
    fn explicit_deny_wins() {
        let grant = allow(json!({"AWS": ROLE}), json!("s3:*"), json!("*"));
        let deny = json!({"Sid": "NoReads", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject*", "Resource": "arn:aws:s3:::revs/*"});
        let g = eval(json!([grant.clone(), deny]));
        assert_eq!(
            g,
            Grant::NotGranted {
                missing: vec!["s3:GetObject"],
                denied_by: Some("statement \"NoReads\"".into())
            }
        );
        let other_deny =
            json!({"Effect": "Deny", "Principal": {"AWS": "333333333333"}, "Action": "s3:*", "Resource": "*"});
        assert_eq!(eval(json!([grant.clone(), other_deny])), Grant::Granted);
        let put_deny = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"});
        assert_eq!(eval(json!([grant, put_deny])), Grant::Granted);
    }

    #[test]
    fn constructs_not_evaluated_are_reported_not_guessed() {
        let cases = [
            json!({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
            json!({"Effect": "Allow", "NotPrincipal": {"AWS": "333333333333"}, "Action": "s3:*", "Resource": "*"}),
            json!({"Effect": "Allow", "Principal": {"AWS": ROLE}, "NotAction": "s3:Delete*", "Resource": "*"}),
            json!({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:*", "NotResource": "arn:aws:s3:::revs/private/*"}),
        ];
        for st in cases {
            let g = eval(json!([st.clone()]));
            assert_eq!(kind(&g), "undetermined", "{st}: {g:?}");
        }
        let Grant::Undetermined(why) = eval(json!([
            json!({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
        ])) else {
            panic!("undetermined expected");
        };
        assert!(why.contains("Condition"), "{why}");
        // A Deny that might apply makes a plain Allow undetermined.
        let grant = allow(json!({"AWS": ROLE}), json!("s3:*"), json!("*"));
        let maybe_deny = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
        assert_eq!(kind(&eval(json!([grant, maybe_deny.clone()]))), "undetermined");
        // ... but cannot turn "nothing grants it" into a grant.
        assert_eq!(kind(&eval(json!([maybe_deny]))), "missing");
    }

    #[test]
    fn statements_that_surely_do_not_apply_are_ignored_whatever_else_they_say() {
        let unrelated = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "NotAction": "s3:Delete*", "Resource": "*", "Condition": {"Bool": {"x": "y"}}});
        let grant = allow(json!({"AWS": ROLE}), json!("s3:Get*"), json!("arn:aws:s3:::revs/*"));
        assert_eq!(eval(json!([unrelated, grant])), Grant::Granted);
    }

    #[test]
    fn missing_or_odd_documents() {
        assert_eq!(
            evaluate(None, &req(true)),
            Grant::NotGranted {
                missing: vec!["s3:GetObject", "s3:GetObjectVersion"],
                denied_by: None
            }
        );
        assert_eq!(kind(&evaluate(Some("not json"), &req(true))), "undetermined");
        assert_eq!(
            kind(&evaluate(Some(r#"{"Version":"2012-10-17"}"#), &req(true))),
            "missing"
        );
        // A single statement object instead of a list.
        let single = json!({"Statement": allow(json!({"AWS": ROLE}), json!("s3:*"), json!("*"))}).to_string();
        assert_eq!(evaluate(Some(&single), &req(true)), Grant::Granted);
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*/*", "x/y/z"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("a**", "a"));
        assert!(glob("[ab]{c,d}\\*", "[ab]{c,d}\\x"));
        assert!(!glob("[ab]", "a"));
        assert!(!glob("S3:GetObject", "s3:GetObject"));
        // A `*` in the value is just a character (the hand-written matcher
        // took it for the pattern's `*` and then failed).
        assert!(glob("*", "*a"));
        assert!(glob("arn:aws:s3:::revs/*", "arn:aws:s3:::revs/*.zip"));
    }
}
