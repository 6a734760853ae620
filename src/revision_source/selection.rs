//! Which object under a prefix is "the" revision.

use crate::api::Selection;
use crate::aws::s3::ObjectSummary;

use super::semver;

/// The chosen object, or None when no object qualifies. Ties are broken by
/// the larger key so that every poll chooses the same object.
pub fn select<'a>(objects: &'a [ObjectSummary], prefix: &str, selection: Selection) -> Option<&'a ObjectSummary> {
    // Keys ending in "/" are the folder placeholders the S3 console creates.
    let files = objects.iter().filter(|o| !o.key.ends_with('/'));
    match selection {
        Selection::NewestLastModified => files.max_by(|a, b| {
            a.last_modified
                .as_ref()
                .map(|t| t.0)
                .cmp(&b.last_modified.as_ref().map(|t| t.0))
                .then_with(|| a.key.cmp(&b.key))
        }),
        Selection::HighestSemver => files
            .filter_map(|o| {
                let relative = o.key.strip_prefix(prefix).unwrap_or(&o.key);
                semver::find(relative).map(|v| (v, o))
            })
            .max_by(|(va, a), (vb, b)| va.cmp(vb).then_with(|| a.key.cmp(&b.key)))
            .map(|(_, o)| o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn obj(key: &str, modified: i64) -> ObjectSummary {
        ObjectSummary {
            key: key.into(),
            last_modified: Some(Time(k8s_openapi::jiff::Timestamp::from_second(modified).unwrap())),
            ..Default::default()
        }
    }

    fn pick(objects: &[ObjectSummary], selection: Selection) -> Option<&str> {
        select(objects, "app/", selection).map(|o| o.key.as_str())
    }

    #[test]
    fn each_rule_picks_its_object() {
        let objects = [
            obj("app/", 0),
            obj("app/README", 1),
            obj("app/webapp-1.9.0.zip", 2),
            obj("app/webapp-1.10.0.zip", 3),
            obj("app/webapp-1.2.0.zip", 4),
            obj("app/webapp-2.0.0-rc.1.zip", 5),
            obj("app/notes/", 9),
        ];
        assert_eq!(
            pick(&objects, Selection::HighestSemver),
            Some("app/webapp-2.0.0-rc.1.zip")
        );
        assert_eq!(
            pick(&objects[..5], Selection::HighestSemver),
            Some("app/webapp-1.10.0.zip")
        );
        assert_eq!(
            pick(&objects, Selection::NewestLastModified),
            Some("app/webapp-2.0.0-rc.1.zip")
        );
        assert_eq!(
            pick(&objects[..5], Selection::NewestLastModified),
            Some("app/webapp-1.2.0.zip")
        );
    }

    #[test]
    fn nothing_qualifies() {
        assert_eq!(pick(&[], Selection::NewestLastModified), None);
        assert_eq!(pick(&[obj("app/", 1)], Selection::NewestLastModified), None);
        assert_eq!(pick(&[obj("app/latest.zip", 1)], Selection::HighestSemver), None);
    }

    #[test]
    fn ties_are_stable() {
        let objects = [obj("app/b-1.0.0.zip", 5), obj("app/a-1.0.0.zip", 5)];
        assert_eq!(pick(&objects, Selection::NewestLastModified), Some("app/b-1.0.0.zip"));
        assert_eq!(pick(&objects, Selection::HighestSemver), Some("app/b-1.0.0.zip"));
        // The prefix itself may look like a version; only the rest counts.
        let objects = [obj("1.0.0/app.zip", 1)];
        assert_eq!(select(&objects, "1.0.0/", Selection::HighestSemver), None);
    }
}
