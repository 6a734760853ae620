//! Semantic versions found inside object keys (`webapp-1.10.0.zip`). Parsing
//! and precedence (1.10.0 > 1.9.0, 1.0.0 > 1.0.0-rc.1) are the `semver`
//! crate's; this module only finds where in a key a version is.

use ::semver::{BuildMetadata, Version};

use crate::api::BundleType;

/// The last semantic version in `key` (after dropping a bundle extension, so
/// `1.0.0-rc.1.zip` is not read as pre-release `rc.1.zip`). Dates such as
/// `2024.01.15` are not versions: semver forbids leading zeros. Build
/// metadata is dropped: it has no precedence (SemVer 2.0.0, item 10), but
/// the crate's `Ord` would compare it.
pub fn find(key: &str) -> Option<Version> {
    let stem = strip_bundle_extension(key);
    let bytes = stem.as_bytes();
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        let starts_number =
            bytes[i].is_ascii_digit() && (i == 0 || !(bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.'));
        if starts_number && let Some((version, end)) = parse_at(stem, i) {
            found = Some(version);
            i = end;
            continue;
        }
        i += 1;
    }
    found
}

fn strip_bundle_extension(key: &str) -> &str {
    if BundleType::from_key(key).is_none() {
        return key;
    }
    let lower = key.to_ascii_lowercase();
    [".tar.gz", ".tgz", ".tar", ".zip", ".yaml", ".yml", ".json"]
        .into_iter()
        .find(|ext| lower.ends_with(ext))
        .map_or(key, |ext| &key[..key.len() - ext.len()])
}

/// The longest version starting at `start` that ends where a version may
/// end, and where it ends: at the end of the run of characters semver uses
/// (`1.2.3_linux`, `1.2.3/`), or before a `.` that does not go on with a
/// digit (`1.2.3.linux`; never `1.2.3.4`, and `1.2.3x` or `1.2.3-` not at all).
fn parse_at(s: &str, start: usize) -> Option<(Version, usize)> {
    let bytes = s.as_bytes();
    let run = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
        .count();
    let end = start + run;
    (start + 1..=end)
        .rev()
        .filter(|&e| e == end || (bytes[e] == b'.' && !bytes.get(e + 1).is_some_and(u8::is_ascii_digit)))
        .find_map(|e| {
            let mut version = Version::parse(&s[start..e]).ok()?;
            version.build = BuildMetadata::EMPTY;
            Some((version, e))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(key: &str) -> Option<String> {
        find(key).map(|v| v.to_string())
    }

    #[test]
    fn finds_versions_in_keys() {
        let table = [
            ("webapp/webapp-1.10.0.zip", Some("1.10.0")),
            ("webapp-v2.0.1.tar.gz", Some("2.0.1")),
            ("app-1.0.0-rc.1.zip", Some("1.0.0-rc.1")),
            ("app-1.0.0-rc.1+build.5.zip", Some("1.0.0-rc.1")),
            ("releases/1.2.3/bundle.zip", Some("1.2.3")),
            ("releases/2024.01.15/app-1.2.3.zip", Some("1.2.3")),
            ("releases/2024.01.15/app.zip", None),
            ("app-1.2.zip", None),
            ("app-1.2.3.4.zip", None),
            ("app-1.2.3x.zip", None),
            ("app-01.2.3.zip", None),
            ("app2-1.2.3.zip", Some("1.2.3")),
            ("app-1.2.3.linux.rpm", Some("1.2.3")),
            ("latest.zip", None),
            ("1.0.0", Some("1.0.0")),
            ("app-1.0.0-.zip", None),
            ("app-1.0.0-rc.01.zip", None),
            ("app-1.2.3_linux.zip", Some("1.2.3")),
        ];
        for (key, want) in table {
            assert_eq!(v(key).as_deref(), want, "{key}");
        }
    }

    #[test]
    fn precedence() {
        let order = [
            "a-1.0.0-alpha.zip",
            "a-1.0.0-alpha.1.zip",
            "a-1.0.0-alpha.beta.zip",
            "a-1.0.0-beta.zip",
            "a-1.0.0-beta.2.zip",
            "a-1.0.0-beta.11.zip",
            "a-1.0.0-rc.1.zip",
            "a-1.0.0.zip",
            "a-1.9.0.zip",
            "a-1.10.0.zip",
            "a-2.0.0.zip",
        ];
        let versions: Vec<Version> = order.iter().map(|k| find(k).unwrap()).collect();
        for w in versions.windows(2) {
            assert!(w[0] < w[1], "{:?} < {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn build_metadata_has_no_precedence() {
        assert_eq!(find("a-1.0.0+b.zip"), find("a-1.0.0+a.zip"));
        assert_eq!(find("a-1.0.0+b.zip").map(|v| v.to_string()).as_deref(), Some("1.0.0"));
    }
}
