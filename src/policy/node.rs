//! An ordered JSON-like tree: IAM policies read best with `Sid`, `Effect`,
//! `Principal`, `Action`, `Resource`, `Condition` in that order, and the
//! renderers (JSON, Terraform, CloudFormation) must agree on it. serde_json's
//! `Value` sorts keys, so policies are built as [`Node`]s instead.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A policy value. `Secret` stands for a value crossdeploy does not print
/// (the ExternalId): each renderer writes its own reference to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
    Secret,
}

impl Node {
    pub fn str(s: impl Into<String>) -> Self {
        Node::Str(s.into())
    }

    pub fn strs<S: AsRef<str>>(items: &[S]) -> Self {
        Node::List(items.iter().map(|s| Node::str(s.as_ref())).collect())
    }

    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Node)>) -> Self {
        Node::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The value of `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Every `Secret` replaced by `with`.
    pub fn resolve(&self, with: &Node) -> Node {
        match self {
            Node::Secret => with.clone(),
            Node::Str(_) => self.clone(),
            Node::List(items) => Node::List(items.iter().map(|n| n.resolve(with)).collect()),
            Node::Map(entries) => Node::Map(entries.iter().map(|(k, v)| (k.clone(), v.resolve(with))).collect()),
        }
    }

    /// Does the tree hold a `Secret`?
    pub fn has_secret(&self) -> bool {
        match self {
            Node::Secret => true,
            Node::Str(_) => false,
            Node::List(items) => items.iter().any(Node::has_secret),
            Node::Map(entries) => entries.iter().any(|(_, v)| v.has_secret()),
        }
    }

    /// Pretty JSON (two-space indent, keys in order). A `Secret` left
    /// unresolved is written as the placeholder `${EXTERNAL_ID}`.
    pub fn to_json(&self) -> String {
        let resolved = self.resolve(&Node::str(EXTERNAL_ID_PLACEHOLDER));
        serde_json::to_string_pretty(&resolved).unwrap_or_default()
    }

    /// One-line JSON, for messages.
    pub fn to_json_line(&self) -> String {
        let resolved = self.resolve(&Node::str(EXTERNAL_ID_PLACEHOLDER));
        serde_json::to_string(&resolved).unwrap_or_default()
    }
}

/// What a JSON policy shows where the ExternalId goes when its value was not
/// given: `envsubst` fills it in.
pub const EXTERNAL_ID_PLACEHOLDER: &str = "${EXTERNAL_ID}";

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Str(s) => serializer.serialize_str(s),
            Node::Secret => serializer.serialize_str(EXTERNAL_ID_PLACEHOLDER),
            Node::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Reads JSON keeping the document's key order (numbers and booleans become
/// strings, as IAM reads them).
impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy document")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::str(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::str(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::str(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::str(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::str(v.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_survives_a_round_trip() {
        let text = r#"{"Sid": "S", "Effect": "Allow", "Action": ["a", "b"], "Resource": "r"}"#;
        let node: Node = serde_json::from_str(text).unwrap();
        let keys: Vec<&str> = match &node {
            Node::Map(e) => e.iter().map(|(k, _)| k.as_str()).collect(),
            _ => vec![],
        };
        assert_eq!(keys, ["Sid", "Effect", "Action", "Resource"]);
        assert_eq!(
            node.to_json_line(),
            r#"{"Sid":"S","Effect":"Allow","Action":["a","b"],"Resource":"r"}"#
        );
    }

    #[test]
    fn secrets_are_placeholders_until_resolved() {
        let node = Node::map([("sts:ExternalId", Node::Secret)]);
        assert!(node.has_secret());
        assert_eq!(node.to_json_line(), r#"{"sts:ExternalId":"${EXTERNAL_ID}"}"#);
        assert_eq!(
            node.resolve(&Node::str("x")).to_json_line(),
            r#"{"sts:ExternalId":"x"}"#
        );
    }
}
