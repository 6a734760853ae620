//! CEL admission rules shared by several fields. Each rule is attached to the
//! field it checks (`#[x_kube(validation = rules::...)]`), so the API server
//! names that field in the error (`spec.revision.s3.bucket: Invalid value:
//! ...`). Everything here is something AWS or Kubernetes would refuse later,
//! where it could only show up as a retrying or stalled object.
//!
//! Regular expressions are RE2 (CEL's `matches`); `[.]` is used instead of an
//! escaped dot so the rules read the same in Rust, in the CRD YAML and in RE2.

use kube::core::{Message, Rule};

fn rule(expression: impl Into<String>, message: impl Into<String>) -> Rule {
    let mut rule = Rule::new(expression);
    rule.message = Some(Message::Message(message.into()));
    rule
}

/// A lowercase RFC 1123 subdomain: what Kubernetes requires of the names of
/// Secrets and of crossdeploy's own objects.
const DNS_SUBDOMAIN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// The name of a Kubernetes object (TargetAccount, RevisionSource, Secret).
/// The length (at most 253) is the schema's `maxLength`.
pub fn object_name(field: &str) -> Rule {
    rule(
        format!("self.matches('{DNS_SUBDOMAIN}')"),
        format!(
            "{field} must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and \
             ending with a letter or digit"
        ),
    )
}

/// A key of a Secret's data (Kubernetes' IsConfigMapKey).
pub fn secret_key(field: &str) -> Rule {
    rule(
        "self.matches('^[-._a-zA-Z0-9]+$') && self != '.' && !self.startsWith('..')",
        format!(
            "{field} must be a Secret data key: letters, digits, '-', '_' and '.', not '.' and not starting with '..'"
        ),
    )
}

/// S3 general purpose bucket naming rules, one rule per AWS rule so the
/// message says which one is broken. The length (at most 63) is also the
/// schema's `maxLength`.
pub fn bucket_shape() -> Rule {
    rule(
        "self.matches('^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$')",
        "bucket must be a valid S3 bucket name: 3 to 63 lowercase letters, digits, dots or hyphens, beginning \
         and ending with a letter or digit",
    )
}

pub fn bucket_no_adjacent_periods() -> Rule {
    rule(
        "!self.contains('..')",
        "bucket must be a valid S3 bucket name: no two adjacent periods",
    )
}

pub fn bucket_not_an_ip_address() -> Rule {
    rule(
        "!self.matches('^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$')",
        "bucket must be a valid S3 bucket name: not formatted as an IP address",
    )
}

pub fn bucket_no_reserved_prefix() -> Rule {
    rule(
        "!(self.startsWith('xn--') || self.startsWith('sthree-') || self.startsWith('amzn-s3-demo-'))",
        "bucket must be a valid S3 bucket name: the prefixes xn--, sthree- and amzn-s3-demo- are reserved",
    )
}

pub fn bucket_no_reserved_suffix() -> Rule {
    rule(
        "!(self.endsWith('-s3alias') || self.endsWith('--ol-s3') || self.endsWith('.mrap') || \
         self.endsWith('--x-s3') || self.endsWith('--table-s3'))",
        "bucket must be a valid S3 bucket name: the suffixes -s3alias, --ol-s3, .mrap, --x-s3 and --table-s3 \
         are reserved (access point aliases, Multi-Region Access Points, directory and table buckets)",
    )
}

/// What CodeDeploy allows in application, deployment group and deployment
/// configuration names: 1 to 100 of letters, digits and `. _ + = , @ -`.
pub fn codedeploy_name(field: &str) -> Rule {
    rule(
        "self.matches('^[A-Za-z0-9._+=,@-]{1,100}$')",
        format!("{field} must be 1 to 100 letters, digits or . _ + = , @ - (CodeDeploy's naming rules)"),
    )
}

/// Glob patterns over CodeDeploy names: the name characters and `*`.
pub fn codedeploy_globs(field: &str) -> Rule {
    rule(
        "self.all(p, p.matches('^[A-Za-z0-9._+=,@*-]{1,100}$'))",
        format!(
            "every {field} entry must be a CodeDeploy name or a glob over one: 1 to 100 letters, digits, \
             . _ + = , @ - or the wildcard *"
        ),
    )
}

/// Region names: `us-east-1`, `us-gov-west-1`, `cn-north-1`,
/// `us-isob-east-1`, `eusc-de-east-1`.
const REGION: &str = "^[a-z]{2,4}(-[a-z]+){1,3}-[0-9]{1,2}$";

pub fn region(field: &str) -> Rule {
    rule(
        format!("self.matches('{REGION}')"),
        format!("{field} must look like us-east-1"),
    )
}

/// Glob patterns over region names (`eu-*`).
pub fn region_globs(field: &str) -> Rule {
    rule(
        "self.all(p, p.matches('^[a-z0-9*-]{1,32}$'))",
        format!("every {field} entry must be a region name or a glob over one (lowercase letters, digits, - and *)"),
    )
}

/// An IAM role ARN: partition, 12-digit account, optional path, a role name
/// of at most 64 characters.
const ROLE_ARN: &str = "^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$";

pub fn role_arn(field: &str) -> Rule {
    rule(
        format!("self.matches('{ROLE_ARN}')"),
        format!("{field} must look like arn:aws:iam::<12-digit account>:role/<name>"),
    )
}

pub fn role_arns(field: &str) -> Rule {
    rule(
        format!("self.all(r, r.matches('{ROLE_ARN}'))"),
        format!("every {field} entry must be a role ARN (arn:aws:iam::<12-digit account>:role/<name>)"),
    )
}

/// Characters STS allows in session tag keys and values.
const TAG_CHARACTERS: &str = "[\\\\p{L}\\\\p{Z}\\\\p{N}_.:/=+@-]";

pub fn session_tag_key() -> Rule {
    rule(
        format!("self.matches('^{TAG_CHARACTERS}+$') && !self.lowerAscii().startsWith('aws:')"),
        "sessionTags key must be 1 to 128 letters, digits, spaces or _ . : / = + - @, and not start with the \
         reserved prefix aws:",
    )
}

pub fn session_tag_value() -> Rule {
    rule(
        format!("self.matches('^{TAG_CHARACTERS}*$')"),
        "sessionTags value may only hold letters, digits, spaces or _ . : / = + - @",
    )
}

/// STS treats tag keys case-insensitively: `Team` and `team` are one key.
pub fn session_tag_keys_unique() -> Rule {
    rule(
        "self.all(t, self.filter(u, u.key.lowerAscii() == t.key.lowerAscii()).size() == 1)",
        "sessionTags keys must be unique, ignoring case (STS treats Team and team as one key)",
    )
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name of at
/// most 63 letters, digits, `-`, `_`, `.` that starts and ends with a letter
/// or digit.
const LABEL_KEY: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";

/// A label value: empty, or at most 63 letters, digits, `-`, `_`, `.` that
/// start and end with a letter or digit.
pub const LABEL_VALUE: &str = "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";

const LABEL_KEY_TEXT: &str = "an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', \
                              starting and ending with a letter or digit";

pub fn label_key(field: &str) -> Rule {
    rule(
        format!("self.matches('{LABEL_KEY}')"),
        format!("{field} must be a label key: {LABEL_KEY_TEXT}"),
    )
}

pub fn label_values(field: &str) -> Rule {
    rule(
        format!("self.all(v, v.matches('{LABEL_VALUE}'))"),
        format!(
            "every {field} entry must be a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ),
    )
}

/// The marker crossdeploy appends to CodeDeploy descriptions; a description
/// that contains one could make a deployment look like another object's.
pub fn no_marker(field: &str) -> Rule {
    rule(
        "!self.lowerAscii().contains('[crossdeploy:')",
        format!("{field} must not contain '[crossdeploy:': crossdeploy appends that marker itself"),
    )
}

/// An optional string that, when given, is not empty.
pub fn not_empty(field: &str) -> Rule {
    rule("self.size() >= 1", format!("{field} must not be empty when set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_their_field_and_carry_a_message() {
        let r = object_name("targetAccountRef.name");
        assert!(r.rule.contains("matches"));
        assert!(matches!(r.message, Some(Message::Message(m)) if m.starts_with("targetAccountRef.name ")));
    }

    #[test]
    fn tag_pattern_reaches_re2_as_unicode_classes() {
        // Rust "\\\\p" is the CEL literal '\\p', which CEL unescapes to RE2 \p.
        assert!(session_tag_key().rule.contains(r"'^[\\p{L}\\p{Z}\\p{N}_.:/=+@-]+$'"));
    }
}
