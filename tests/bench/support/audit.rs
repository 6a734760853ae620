//! Requests the operator made to the API server, counted from the API
//! server's own audit log: the operator exposes no metric for its Kubernetes
//! requests, and the API server's `apiserver_request_total` has no label for
//! who asked. The bench runs the operator as its own ServiceAccount and the
//! audit policy logs only that user (level Metadata, one event per finished
//! request), so every line is one request of the operator.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The API server flags and policy file that log `user`'s requests.
pub fn apiserver_args(dir: &Path, user: &str) -> std::io::Result<(Vec<String>, PathBuf)> {
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n  - level: Metadata\n    users: [\"{user}\"]\n  - level: None\n"
        ),
    )?;
    let log = dir.join("audit.log");
    let args = vec![
        format!("--audit-policy-file={}", policy.display()),
        format!("--audit-log-path={}", log.display()),
        "--audit-log-format=json".to_string(),
        "--audit-log-maxsize=0".to_string(),
    ];
    Ok((args, log))
}

/// Reads the events appended since the last read.
pub struct AuditLog {
    path: PathBuf,
    offset: u64,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        Self { path, offset: 0 }
    }

    /// Requests by `verb resource[/subresource]` since the last call.
    pub fn take(&mut self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return counts;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return counts;
        }
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        // Only whole lines: a line being written is read next time.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        self.offset += complete as u64;
        for line in text[..complete].lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let verb = event["verb"].as_str().unwrap_or("?");
            let object = &event["objectRef"];
            let mut what = match object["resource"].as_str() {
                Some(resource) => resource.to_string(),
                // not a resource: /version, /api, /apis (discovery)
                None => event["requestURI"]
                    .as_str()
                    .unwrap_or("?")
                    .split('?')
                    .next()
                    .unwrap_or("?")
                    .to_string(),
            };
            if let Some(sub) = object["subresource"].as_str() {
                what = format!("{what}/{sub}");
            }
            *counts.entry(format!("{verb} {what}")).or_default() += 1;
        }
        counts
    }

    pub fn available(&self) -> bool {
        self.path.exists()
    }
}

/// "verb n, ..." by verb alone (the detail goes to the per-phase breakdown).
pub fn by_verb(counts: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut verbs = BTreeMap::new();
    for (k, n) in counts {
        let verb = k.split(' ').next().unwrap_or("?").to_string();
        *verbs.entry(verb).or_default() += n;
    }
    verbs
}
