//! The checklist `crossdeploy doctor` prints: per guide step a mark (✓ ✗ ?),
//! what was checked, by which identity, and the fix; as text or JSON.

use serde::Serialize;

use crate::cli::style::Style;

/// The outcome of one check or step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mark {
    /// Nothing was checked (no input for it, or an earlier check failed).
    Skipped,
    Pass,
    /// Could not be determined: never fails the run unless `--strict`.
    Unknown,
    Fail,
}

impl Mark {
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Fail => "✗",
            Mark::Unknown => "?",
            Mark::Skipped => "-",
        }
    }

    fn paint(self, style: &Style, text: &str) -> String {
        match self {
            Mark::Pass => style.green(text),
            Mark::Fail => style.red(text),
            Mark::Unknown => style.yellow(text),
            Mark::Skipped => style.dim(text),
        }
    }
}

/// One thing looked at.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub result: Mark,
    /// What was checked, e.g. "s3:HeadBucket crossdeploy-revisions".
    pub what: String,
    /// The identity that looked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// What was found.
    pub detail: String,
    /// The operator's condition reason for this finding, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn new(result: Mark, what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            result,
            what: what.into(),
            by: None,
            detail: detail.into(),
            reason: None,
            fix: None,
        }
    }

    pub fn by(mut self, who: impl Into<String>) -> Self {
        self.by = Some(who.into());
        self
    }

    pub fn reason(mut self, reason: crate::status::Reason) -> Self {
        self.reason = Some(reason.as_str().to_string());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn fix_opt(mut self, fix: Option<String>) -> Self {
        self.fix = fix;
        self
    }
}

/// One step of the guide.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub step: u8,
    pub title: &'static str,
    pub result: Mark,
    pub checks: Vec<Check>,
}

impl Step {
    /// The step's mark: the worst of its checks.
    pub fn new(step: u8, title: &'static str, checks: Vec<Check>) -> Self {
        let result = checks.iter().map(|c| c.result).max().unwrap_or(Mark::Skipped);
        Self {
            step,
            title,
            result,
            checks,
        }
    }
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checklist {
    /// What was checked: the TargetAccount (or the role from flags) and what it deploys.
    pub subject: String,
    /// The identity doctor ran as (the operator's own, when run where the operator runs).
    pub identity: String,
    pub steps: Vec<Step>,
    pub result: Mark,
    pub exit_code: i32,
}

/// Exit codes: every determinable step passed; a step failed; (with
/// `--strict`) some step could not be determined. 2 is a usage error.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_UNDETERMINED: i32 = 3;

impl Checklist {
    pub fn new(subject: String, identity: String, steps: Vec<Step>, strict: bool) -> Self {
        let result = steps.iter().map(|s| s.result).max().unwrap_or(Mark::Skipped);
        let exit_code = match result {
            Mark::Fail => EXIT_FAILED,
            Mark::Unknown if strict => EXIT_UNDETERMINED,
            _ => EXIT_OK,
        };
        Self {
            subject,
            identity,
            steps,
            result,
            exit_code,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The checklist for people.
    pub fn to_text(&self, style: &Style) -> String {
        let mut out = format!(
            "{} {}\n{} {}\n\n",
            style.bold("crossdeploy doctor:"),
            self.subject,
            style.dim("as"),
            self.identity
        );
        for step in &self.steps {
            let mark = step.result.paint(style, step.result.symbol());
            out.push_str(&format!(
                "{mark} {}\n",
                style.bold(&format!("{}. {}", step.step, step.title))
            ));
            for c in &step.checks {
                out.push_str(&format!(
                    "    {} {}: {}\n",
                    c.result.paint(style, c.result.symbol()),
                    c.what,
                    c.detail
                ));
                if let Some(by) = &c.by {
                    out.push_str(&format!("        {} {by}\n", style.dim("by")));
                }
                if let Some(fix) = &c.fix {
                    out.push_str(&format!("        {} {fix}\n", style.cyan("fix:")));
                }
            }
        }
        let summary = match self.result {
            Mark::Fail => style.red("a step fails: see ✗ above"),
            Mark::Unknown => style.yellow("every step that could be determined passes; ? could not be determined"),
            _ => style.green("every step passes"),
        };
        out.push_str(&format!("\n{summary}\n"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(marks: &[Mark]) -> Step {
        Step::new(1, "t", marks.iter().map(|m| Check::new(*m, "what", "detail")).collect())
    }

    #[test]
    fn the_worst_check_decides_and_only_failures_fail_unless_strict() {
        assert_eq!(step(&[Mark::Pass, Mark::Unknown]).result, Mark::Unknown);
        assert_eq!(step(&[Mark::Pass, Mark::Fail, Mark::Unknown]).result, Mark::Fail);
        assert_eq!(step(&[]).result, Mark::Skipped);
        assert_eq!(step(&[Mark::Skipped, Mark::Pass]).result, Mark::Pass);
        let steps = |m: &[Mark]| vec![step(&[Mark::Pass]), step(m)];
        let code = |m: &[Mark], strict| Checklist::new(String::new(), String::new(), steps(m), strict).exit_code;
        assert_eq!(code(&[Mark::Pass], true), EXIT_OK);
        assert_eq!(code(&[Mark::Unknown], false), EXIT_OK);
        assert_eq!(code(&[Mark::Unknown], true), EXIT_UNDETERMINED);
        assert_eq!(code(&[Mark::Fail], false), EXIT_FAILED);
        assert_eq!(code(&[Mark::Skipped], true), EXIT_OK);
    }

    #[test]
    fn text_shows_marks_identities_and_fixes_without_colour_off_a_terminal() {
        let c = Checklist::new(
            "TargetAccount x".into(),
            "me".into(),
            vec![Step::new(
                2,
                "Bucket policy",
                vec![
                    Check::new(Mark::Fail, "s3:GetBucketPolicy b", "not granted")
                        .by("op")
                        .fix("add it"),
                ],
            )],
            false,
        );
        let text = c.to_text(&Style::plain());
        assert!(text.contains("✗ 2. Bucket policy"), "{text}");
        assert!(text.contains("    ✗ s3:GetBucketPolicy b: not granted"), "{text}");
        assert!(
            text.contains("        by op") && text.contains("        fix: add it"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        let json: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(json["steps"][0]["result"], "fail");
        assert_eq!(json["exitCode"], 1);
    }
}
