//! Exactly once, counted: which CodeDeploy deployments carry which object's
//! marker (`[crossdeploy:<object id>:<digest>]` in the description), how many
//! desired revisions were deployed twice (duplicates) and how many were never
//! deployed (missing). Shared by `make chaos` and its short version in the e2e
//! suite; it reads the emulator's `/codedeploy/deployments` listing, which is
//! not an AWS call and so adds nothing to what is being counted.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// (object id, digest) of the marker in a deployment description.
pub fn marker(description: &str) -> Option<(String, String)> {
    let start = description.find("[crossdeploy:")? + "[crossdeploy:".len();
    let rest = &description[start..];
    let inner = &rest[..rest.find(']')?];
    let (id, digest) = inner.split_once(':')?;
    Some((id.to_string(), digest.to_string()))
}

/// One object and the desired revisions (marker digests, from its
/// `status.desiredDigest`) it was given: each must have exactly one
/// deployment. A round whose spec the operator never observed is a digest
/// that matches nothing (`unobserved:<round>`), so it counts as missing.
#[derive(Clone, Debug)]
pub struct Expected {
    pub namespace: String,
    pub name: String,
    pub digests: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Every deployment in the groups looked at.
    pub deployments: usize,
    /// Those created by a user with a marker of one of the objects.
    pub ours: usize,
    /// Those whose (object, digest) is one of the expected ones.
    pub matched: usize,
    /// Deployments beyond the first for the same (object, digest).
    pub duplicates: usize,
    /// Desired revisions with no deployment.
    pub missing: usize,
    /// object → digest → deployments.
    pub by_object: BTreeMap<String, BTreeMap<String, usize>>,
    /// "ns/name: digest d deployed 2 times" / "...: digest d never deployed".
    pub problems: Vec<String>,
}

pub fn count(deployments: &[Value], expected: &[Expected]) -> Ledger {
    let ids: HashMap<String, &Expected> = expected
        .iter()
        .map(|e| (crossdeploy::deployment::Owner::new(&e.namespace, &e.name, "").id, e))
        .collect();
    let mut ledger = Ledger {
        deployments: deployments.len(),
        ..Default::default()
    };
    for d in deployments {
        if d["creator"].as_str() != Some("user") {
            continue;
        }
        let Some((id, digest)) = d["description"].as_str().and_then(marker) else {
            continue;
        };
        let Some(e) = ids.get(&id) else {
            continue;
        };
        ledger.ours += 1;
        *ledger
            .by_object
            .entry(format!("{}/{}", e.namespace, e.name))
            .or_default()
            .entry(digest)
            .or_default() += 1;
    }
    for e in expected {
        let deployed = ledger.by_object.get(&format!("{}/{}", e.namespace, e.name));
        for digest in &e.digests {
            let who = format!("{}/{}", e.namespace, e.name);
            match deployed.and_then(|d| d.get(digest)).copied().unwrap_or(0) {
                0 => {
                    ledger.missing += 1;
                    ledger.problems.push(format!("{who}: digest {digest} never deployed"));
                }
                1 => ledger.matched += 1,
                n => {
                    ledger.matched += n;
                    ledger.duplicates += n - 1;
                    ledger
                        .problems
                        .push(format!("{who}: digest {digest} deployed {n} times"));
                }
            }
        }
    }
    ledger
}
