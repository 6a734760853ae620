//! Semantic versions found inside object keys (`webapp-1.10.0.zip`), ordered
//! by semver precedence so that 1.10.0 > 1.9.0 and 1.0.0 > 1.0.0-rc.1.

use std::cmp::Ordering;

use crate::api::BundleType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<Identifier>,
}

/// A pre-release identifier; numeric ones sort before alphanumeric ones.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identifier {
    Numeric(u64),
    Alpha(String),
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A release outranks its pre-releases.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The last semantic version in `key` (after dropping a bundle extension, so
/// `1.0.0-rc.1.zip` is not read as pre-release `rc.1.zip`). Dates such as
/// `2024.01.15` are not versions: semver forbids leading zeros.
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

/// MAJOR.MINOR.PATCH[-PRE][+BUILD] starting at `start`, and where it ends.
fn parse_at(s: &str, start: usize) -> Option<(Version, usize)> {
    let mut pos = start;
    let mut core = [0u64; 3];
    for (n, part) in core.iter_mut().enumerate() {
        if n > 0 {
            pos = expect(s, pos, b'.')?;
        }
        let (value, end) = number(s, pos)?;
        *part = value;
        pos = end;
    }
    let mut pre = Vec::new();
    if s.as_bytes().get(pos) == Some(&b'-') {
        let (ids, end) = identifiers(s, pos + 1)?;
        pre = ids
            .iter()
            .map(|id| match id.parse::<u64>() {
                Ok(n) if id.len() == 1 || !id.starts_with('0') => Some(Identifier::Numeric(n)),
                Ok(_) => None,
                Err(_) => Some(Identifier::Alpha(id.to_string())),
            })
            .collect::<Option<Vec<_>>>()?;
        pos = end;
    }
    if s.as_bytes().get(pos) == Some(&b'+') {
        pos = identifiers(s, pos + 1)?.1;
    }
    // The version must end here: `1.2.3.4` and `1.2.3x` are not semver.
    let rest = &s.as_bytes()[pos..];
    let ends = match rest {
        [] => true,
        [b'.', next, ..] => !next.is_ascii_digit(),
        [c, ..] => !c.is_ascii_alphanumeric(),
    };
    ends.then_some((
        Version {
            major: core[0],
            minor: core[1],
            patch: core[2],
            pre,
        },
        pos,
    ))
}

fn expect(s: &str, pos: usize, byte: u8) -> Option<usize> {
    (s.as_bytes().get(pos) == Some(&byte)).then_some(pos + 1)
}

fn number(s: &str, pos: usize) -> Option<(u64, usize)> {
    let digits = s.as_bytes()[pos..].iter().take_while(|b| b.is_ascii_digit()).count();
    let text = &s[pos..pos + digits];
    if digits == 0 || (digits > 1 && text.starts_with('0')) {
        return None;
    }
    Some((text.parse().ok()?, pos + digits))
}

/// Dot-separated `[0-9A-Za-z-]+` identifiers; a trailing dot is not consumed.
fn identifiers(s: &str, pos: usize) -> Option<(Vec<&str>, usize)> {
    let mut ids = Vec::new();
    let mut pos = pos;
    loop {
        let len = s.as_bytes()[pos..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        if len == 0 {
            return (!ids.is_empty()).then(|| (ids, pos.saturating_sub(1)));
        }
        ids.push(&s[pos..pos + len]);
        pos += len;
        if s.as_bytes().get(pos) != Some(&b'.') {
            return Some((ids, pos));
        }
        pos += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(key: &str) -> Option<String> {
        find(key).map(|v| {
            let pre: Vec<String> = v
                .pre
                .iter()
                .map(|i| match i {
                    Identifier::Numeric(n) => n.to_string(),
                    Identifier::Alpha(a) => a.clone(),
                })
                .collect();
            let mut s = format!("{}.{}.{}", v.major, v.minor, v.patch);
            if !pre.is_empty() {
                s.push('-');
                s.push_str(&pre.join("."));
            }
            s
        })
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
}
