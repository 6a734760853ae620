//! The emulator's control API (`/_crossdeploy/...`, no signing): counters of
//! the AWS calls it served, call records, fault rules, bulk deployment
//! groups, the deployments CodeDeploy has, and the emulator process itself.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Emu {
    base: String,
    http: reqwest::Client,
}

impl Emu {
    pub fn new(endpoint: &str) -> Self {
        Self {
            base: format!("{endpoint}/_crossdeploy"),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.with_context(|| format!("emulator {path}"))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("emulator {path}: {status} {value}");
        }
        Ok(value)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn stats(&self) -> anyhow::Result<Value> {
        self.get("/stats").await
    }

    /// Sequence number of the last recorded call: a phase counts what follows.
    pub async fn last_seq(&self) -> anyhow::Result<u64> {
        Ok(self.stats().await?["calls"]["lastSeq"].as_u64().unwrap_or(0))
    }

    /// `service:Operation` → calls, after `since`; `query` adds filters.
    pub async fn counters_since(&self, since: u64, query: &str) -> anyhow::Result<BTreeMap<String, u64>> {
        let v = self.get(&format!("/counters?since={since}{query}")).await?;
        Ok(v.as_object()
            .map(|m| m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect())
            .unwrap_or_default())
    }

    pub async fn calls(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .get(&format!("/calls?{query}"))
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub async fn create_groups(&self, application: &str, names: &[String]) -> anyhow::Result<()> {
        for chunk in names.chunks(2000) {
            self.post(
                "/codedeploy/deployment-groups",
                json!({"applicationName": application, "deploymentGroupNames": chunk}),
            )
            .await?;
        }
        Ok(())
    }

    /// Deployments as CodeDeploy has them (no AWS call is recorded).
    pub async fn deployments(&self, application: &str, group: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let mut path = format!("/codedeploy/deployments?applicationName={application}");
        if let Some(g) = group {
            path.push_str(&format!("&deploymentGroupName={g}"));
        }
        Ok(self.get(&path).await?["deployments"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub async fn add_faults(&self, rules: Value) -> anyhow::Result<Vec<Value>> {
        Ok(self.post("/faults", json!({"rules": rules})).await?["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub async fn faults(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.get("/faults").await?["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.send(reqwest::Method::DELETE, "/faults", None).await.map(|_| ())
    }

    pub async fn set_default_behaviour(&self, behaviour: Value) -> anyhow::Result<()> {
        self.post("/codedeploy/behaviour", behaviour).await.map(|_| ())
    }
}

/// Sum of counters whose key starts with `prefix` ("" for all).
pub fn total(counters: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    counters
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, n)| n)
        .sum()
}

/// "Op n, Op n" without the service prefix, largest first.
pub fn by_operation(counters: &BTreeMap<String, u64>) -> String {
    let mut ops: Vec<(&String, &u64)> = counters.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    ops.iter()
        .map(|(k, n)| format!("{} {n}", k.split_once(':').map_or(k.as_str(), |(_, op)| op)))
        .collect::<Vec<_>>()
        .join(", ")
}
