//! The operator's Prometheus metrics (`/metrics`), parsed into samples.

use std::collections::BTreeMap;

/// `name{labels}` → value, as exposed.
#[derive(Clone, Debug, Default)]
pub struct Samples(pub BTreeMap<String, f64>);

impl Samples {
    pub fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            if let Some((key, value)) = line.rsplit_once(' ')
                && let Ok(v) = value.parse::<f64>()
            {
                map.insert(key.to_string(), v);
            }
        }
        Self(map)
    }

    /// Sum of a family's samples whose labels contain every `label="value"` given.
    pub fn sum(&self, family: &str, labels: &[&str]) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                (k.as_str() == family || k.starts_with(&format!("{family}{{"))) && labels.iter().all(|l| k.contains(l))
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// A family's samples by the value of one label.
    pub fn by_label(&self, family: &str, label: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        let needle = format!("{label}=\"");
        for (k, v) in self.0.iter().filter(|(k, _)| k.starts_with(&format!("{family}{{"))) {
            if let Some(value) = k.split(&needle).nth(1).and_then(|s| s.split('"').next()) {
                *out.entry(value.to_string()).or_default() += v;
            }
        }
        out
    }
}

pub async fn fetch(addr: &str) -> Option<Samples> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(Samples::parse(&text))
}
