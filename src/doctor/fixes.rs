//! The exact fix for a missing permission: the statement of
//! `crossdeploy policy` that grants it, filled in for this TargetAccount.

use crate::policy::{self, Document, Names, sid};

/// Fixes for one run: the policy names plus how to print all of them.
pub struct Fixes {
    pub names: Names,
    /// `-t NAME` or `--role-arn ARN`: how `crossdeploy policy` finds the same role.
    pub selector: String,
}

impl Fixes {
    fn statement(&self, doc: &Document, sid: &str, into: &str, kind: &str) -> Option<String> {
        let statement = doc.statement(sid)?;
        Some(format!(
            "add statement {sid} to {into} (all of them: crossdeploy policy {kind} {}): {}",
            self.selector,
            statement.to_json_line()
        ))
    }

    /// A statement of the cross-account role's permissions policy.
    pub fn role(&self, sid: &str) -> Option<String> {
        let into = format!("the permissions of {}", self.names.role_arn);
        self.statement(&policy::permissions(&self.names), sid, &into, "permissions")
    }

    /// A statement of the operator's own identity policy.
    pub fn operator(&self, sid: &str) -> Option<String> {
        let into = format!("the policy of {}", self.names.operator_arn);
        self.statement(&policy::operator(&self.names), sid, &into, "operator")
    }

    /// Whoever reads the revisions: the role for a bucket in the production
    /// account, else the operator.
    pub fn reader(&self, sid: &str) -> Option<String> {
        if self.names.buckets_in_production() {
            self.role(sid)
        } else {
            self.operator(sid)
        }
    }

    /// AssumeRole refused: the trust policy (ExternalId shown as a
    /// placeholder, never its value) and the operator's own permission.
    pub fn assume_role(&self) -> String {
        let trust = policy::trust(&self.names);
        let mut fixes: Vec<String> = trust
            .sids()
            .iter()
            .filter_map(|s| {
                let into = format!("the trust policy of {}", self.names.role_arn);
                self.statement(&trust, s, &into, "trust")
            })
            .collect();
        fixes.extend(self.operator(sid::ASSUME));
        let external_id = if self.names.external_id {
            "; ${EXTERNAL_ID} is the ExternalId the TargetAccount's Secret holds"
        } else {
            ""
        };
        format!("{}{external_id}", fixes.join("; and "))
    }

    /// Guide step 2: the bucket policy statement for the instance profile.
    pub fn bucket(&self, bucket: &str) -> Option<String> {
        let doc = policy::bucket(&self.names, bucket)?;
        self.statement(
            &doc,
            sid::BUCKET_GRANT,
            &format!("the bucket policy of {bucket}"),
            "bucket",
        )
    }
}
