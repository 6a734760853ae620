//! Secret-looking strings are masked before anything crossdeploy did not
//! write itself (a deployment script's log tail) reaches status, an Event or
//! a log line. Masking errs on the side of hiding: a masked word costs a
//! reader little, a leaked credential costs a rotation.
//!
//! What is masked:
//! - the value of any `key=value` / `key: value` whose key names a secret
//!   (password, secret, token, api key, access key, private key, credential,
//!   authorization, signature), quoted or not;
//! - `Bearer …` / `Basic …` credentials;
//! - the password of `scheme://user:password@host`;
//! - AWS access key ids (`AKIA…`, `ASIA…`: the 4-letter prefix is kept),
//!   40-character AWS secret access keys, JWTs, GitHub, GitLab and Slack
//!   tokens wherever they stand;
//! - PEM private key blocks (to the end of the text when truncated).

/// What a secret is replaced with.
pub const MASK: &str = "****";

/// Words that make the value after `=` or `:` a secret (lowercase).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "private-key",
    "credential",
    "authorization",
    "signature",
];

/// AWS key id prefixes (IAM unique id prefixes of keys and principals).
const AWS_KEY_PREFIXES: &[&str] = &["AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA"];

/// Prefixes of well-known token formats.
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xoxs-",
];

/// `text` with every secret-looking string replaced by [`MASK`].
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_private_key = false;
    for line in text.split_inclusive('\n') {
        let upper = line.to_ascii_uppercase();
        if upper.contains("-----BEGIN") && upper.contains("PRIVATE KEY") {
            in_private_key = true;
            out.push_str(line.split("-----BEGIN").next().unwrap_or_default());
            out.push_str("-----BEGIN PRIVATE KEY----- ");
            out.push_str(MASK);
            out.push_str(if line.ends_with('\n') { "\n" } else { "" });
            continue;
        }
        if in_private_key {
            if upper.contains("-----END") {
                in_private_key = false;
                out.push_str(line);
            }
            continue;
        }
        let masked = mask_words(&mask_url_credentials(&mask_schemes(&mask_assignments(line))));
        out.push_str(&masked);
    }
    out
}

/// The last lines of `text` that fit in `max_chars` (at most `max_lines`),
/// and whether anything was cut. Lines are kept whole, so a cut never
/// leaves part of a masked word behind; a single line longer than the limit
/// keeps its end.
pub fn tail(text: &str, max_lines: usize, max_chars: usize) -> (String, bool) {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut size = 0;
    for line in lines.iter().rev() {
        if kept.len() == max_lines || size + line.len() + 1 > max_chars {
            break;
        }
        size += line.len() + 1;
        kept.push(line);
    }
    if kept.is_empty()
        && let Some(last) = lines.last()
    {
        let mut start = last.len().saturating_sub(max_chars);
        while !last.is_char_boundary(start) {
            start += 1;
        }
        return (last[start..].to_string(), true);
    }
    kept.reverse();
    (kept.join("\n"), kept.len() < lines.len())
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// `key=value`, `key: value`, `"key": "value"` with a secret-naming key:
/// the value masked.
fn mask_assignments(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find(is_key_char) {
        let (before, from_key) = rest.split_at(start);
        out.push_str(before);
        let key_len = from_key.find(|c: char| !is_key_char(c)).unwrap_or(from_key.len());
        let (key, after_key) = from_key.split_at(key_len);
        out.push_str(key);
        rest = after_key;
        let lower = key.to_ascii_lowercase();
        if !SECRET_KEYS.iter().any(|k| lower.contains(k)) {
            continue;
        }
        let Some((separator, value_len)) = value_after(after_key) else {
            continue;
        };
        out.push_str(&after_key[..separator]);
        out.push_str(MASK);
        rest = &after_key[separator + value_len..];
    }
    out.push_str(rest);
    out
}

/// After a key: (bytes up to the value, the value's length), when an `=` or
/// `:` follows (not `://`) and a non-empty value after it.
fn value_after(s: &str) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && matches!(bytes[i], b'"' | b'\'' | b' ' | b'\t') {
        i += 1;
    }
    if i >= bytes.len() || !matches!(bytes[i], b'=' | b':') || s[i..].starts_with("://") {
        return None;
    }
    i += 1;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
        i += 1;
    }
    let quote = bytes.get(i).copied().filter(|b| matches!(b, b'"' | b'\''));
    if quote.is_some() {
        i += 1;
    }
    let value = &s[i..];
    let word_end = |v: &str| {
        v.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '&' | ')' | '}' | ']'))
            .unwrap_or(v.len())
    };
    let len = match quote {
        Some(q) => value.find(char::from(q)).unwrap_or(value.len()),
        None => {
            let first = word_end(value);
            // `Authorization: Bearer <token>`: the scheme and its credential.
            let scheme = &value[..first];
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic") {
                let after = &value[first..];
                let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
                first + spaces + word_end(&after[spaces..])
            } else {
                first
            }
        }
    };
    (len > 0).then_some((i, len))
}

/// `Bearer <token>`, `Basic <credentials>`: the credential masked.
fn mask_schemes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut words = line.split_inclusive(' ').peekable();
    while let Some(word) = words.next() {
        out.push_str(word);
        let scheme = word.trim_end().trim_start_matches(|c: char| !c.is_ascii_alphabetic());
        if (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic"))
            && let Some(credential) = words.peek()
            && looks_like_credential(credential.trim())
        {
            let trailing = &credential[credential.trim_end().len()..];
            out.push_str(MASK);
            out.push_str(trailing);
            words.next();
        }
    }
    out
}

/// A credential after `Bearer`/`Basic`, not an English word.
fn looks_like_credential(word: &str) -> bool {
    word.len() >= 8
        && word.chars().all(is_token_char)
        && (word.chars().any(|c| c.is_ascii_digit() || c == '=')
            || (word.chars().any(|c| c.is_ascii_uppercase()) && word.chars().any(|c| c.is_ascii_lowercase())))
}

/// `scheme://user:password@host`: the password masked.
fn mask_url_credentials(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at_sign), Some(colon)) if colon < at_sign => {
                out.push_str(&authority[..=colon]);
                out.push_str(MASK);
                out.push_str(&authority[at_sign..]);
                rest = &tail[authority_end..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '=' | '_' | '-' | '.')
}

/// Tokens that are secrets by their shape, wherever they stand.
fn mask_words(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find(is_token_char) {
        out.push_str(&rest[..start]);
        let from = &rest[start..];
        let len = from.find(|c: char| !is_token_char(c)).unwrap_or(from.len());
        out.push_str(&mask_word(&from[..len]));
        rest = &from[len..];
    }
    out.push_str(rest);
    out
}

fn mask_word(word: &str) -> String {
    let trimmed = word.trim_end_matches(['.', '=']);
    for prefix in AWS_KEY_PREFIXES {
        if let Some(id) = trimmed.strip_prefix(prefix)
            && id.len() == 16
            && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return format!("{prefix}{MASK}{}", &word[trimmed.len()..]);
        }
    }
    let secret_key_shape = trimmed.len() == 40
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '+')
        && trimmed.chars().any(|c| c.is_ascii_uppercase())
        && trimmed.chars().any(|c| c.is_ascii_lowercase())
        && trimmed.chars().any(|c| c.is_ascii_digit());
    let jwt = trimmed.starts_with("eyJ") && trimmed.matches('.').count() == 2 && trimmed.len() >= 20;
    let known = TOKEN_PREFIXES
        .iter()
        .any(|p| trimmed.starts_with(p) && trimmed.len() >= p.len() + 10);
    if secret_key_shape || jwt || known {
        return format!("{MASK}{}", &word[trimmed.len()..]);
    }
    word.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        input: &'static str,
        masked: &'static str,
    }

    #[test]
    fn secrets_are_masked_and_the_rest_is_kept() {
        let cases = [
            Case {
                input: "[stderr]+ export AWS_SECRET_ACCESS_KEY=AKIAXDLEAKEDLOGTAIL0",
                masked: "[stderr]+ export AWS_SECRET_ACCESS_KEY=****",
            },
            Case {
                input: "[stderr]+ psql 'host=db.internal user=webapp password=hunter2' -c 'select 1'",
                masked: "[stderr]+ psql 'host=db.internal user=webapp password=****' -c 'select 1'",
            },
            Case {
                input: r#"{"password": "s3cr3t", "user": "app"}"#,
                masked: r#"{"password": "****", "user": "app"}"#,
            },
            Case {
                input: "DB_PASSWORD = 'two words'",
                masked: "DB_PASSWORD = '****'",
            },
            Case {
                input: "github_token: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                masked: "github_token: ****",
            },
            Case {
                input: "curl -H 'Authorization: Bearer abc.def.ghi123456' https://api",
                masked: "curl -H 'Authorization: ****' https://api",
            },
            Case {
                input: "sent Bearer abcDEF123456 to the api; Basic configuration loaded",
                masked: "sent Bearer **** to the api; Basic configuration loaded",
            },
            Case {
                input: "fetching https://deploy:hunter2@repo.example.com/app.git",
                masked: "fetching https://deploy:****@repo.example.com/app.git",
            },
            Case {
                input: "key id AKIAIOSFODNN7EXAMPLE used",
                masked: "key id AKIA**** used",
            },
            Case {
                input: "session ASIAXDOPERATOR111111.",
                masked: "session ASIA****.",
            },
            Case {
                input: "raw wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here",
                masked: "raw **** here",
            },
            Case {
                input: "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
                masked: "jwt ****",
            },
            Case {
                input: "api_key=abc&x-amz-signature=deadbeef&region=us-east-1",
                masked: "api_key=****&x-amz-signature=****&region=us-east-1",
            },
            // Nothing secret: left alone.
            Case {
                input: "[stderr]Job for nginx.service failed because the control process exited with error code.",
                masked: "[stderr]Job for nginx.service failed because the control process exited with error code.",
            },
            Case {
                input: "Loading tokens from /etc/webapp/env; sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                masked: "Loading tokens from /etc/webapp/env; sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            },
            Case {
                input: "see https://example.com:8443/path and token://x",
                masked: "see https://example.com:8443/path and token://x",
            },
        ];
        for Case { input, masked } in cases {
            assert_eq!(mask_secrets(input), masked, "{input}");
        }
    }

    #[test]
    fn private_keys_are_masked_to_their_end_or_the_end_of_the_text() {
        let text =
            "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----\nafter\n";
        let masked = mask_secrets(text);
        assert_eq!(
            masked,
            "before\n-----BEGIN PRIVATE KEY----- ****\n-----END RSA PRIVATE KEY-----\nafter\n"
        );
        let cut = mask_secrets("x\n-----BEGIN PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n");
        assert!(!cut.contains("MIIE"), "{cut}");
    }

    #[test]
    fn masking_is_idempotent() {
        let once = mask_secrets("password=hunter2 AKIAIOSFODNN7EXAMPLE Bearer abcDEF123456");
        assert_eq!(mask_secrets(&once), once);
    }

    #[test]
    fn tails_keep_whole_last_lines() {
        let text = "one\ntwo\nthree\nfour\n";
        assert_eq!(tail(text, 2, 100), ("three\nfour".to_string(), true));
        assert_eq!(tail(text, 10, 100), ("one\ntwo\nthree\nfour".to_string(), false));
        assert_eq!(tail(text, 10, 11), ("three\nfour".to_string(), true));
        assert_eq!(tail("a very long single line", 5, 6), ("e line".to_string(), true));
        assert_eq!(tail("", 5, 6), (String::new(), false));
    }
}
