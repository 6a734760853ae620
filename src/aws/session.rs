//! Assumed-role sessions into target accounts, cached so STS is called about
//! once per role per credential lifetime rather than once per reconcile.
//!
//! Caching and refresh are the SDK's own: each cached [`TargetClients`] shares
//! one `SdkConfig` whose credentials come from aws-config's
//! `AssumeRoleProvider` behind a lazy identity cache that refreshes a few
//! minutes before expiry. This module only decides *which* session to reuse.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::Region;
use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::gate::{Gated, Gates};
use crate::api::{SessionTag, TargetAccountSpec};

/// The rate-limit key of the operator's own identity (its account id is
/// only known after a call).
const OWN_IDENTITY: &str = "operator";

/// Refresh assumed credentials this long before they expire, so no request
/// is signed with a session about to lapse.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// What identifies one assumed-role session.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub role_arn: String,
    /// SHA-256 of the ExternalId: the cache key must distinguish ExternalIds
    /// without keeping another copy of the secret around.
    external_id_digest: Option<String>,
    pub region: String,
    pub session_name: String,
    pub duration_seconds: Option<i32>,
    tags: Vec<SessionTag>,
    chain: Vec<String>,
}

/// Everything needed to assume a role; `external_id` is only ever handed to STS.
pub struct SessionRequest<'a> {
    pub role_arn: &'a str,
    pub external_id: Option<&'a str>,
    pub region: &'a str,
    pub session_name: String,
    pub duration_seconds: Option<i32>,
    pub tags: &'a [SessionTag],
    /// Roles assumed, in order, before `role_arn`.
    pub chain: &'a [String],
}

impl<'a> SessionRequest<'a> {
    /// The session a TargetAccount describes, for one tenant namespace.
    pub fn for_target(
        target: &'a TargetAccountSpec,
        external_id: Option<&'a str>,
        region: Option<&'a str>,
        session_name: String,
    ) -> Self {
        Self {
            role_arn: &target.role_arn,
            external_id,
            region: region.unwrap_or(&target.region),
            session_name,
            duration_seconds: target.session_duration_seconds,
            tags: &target.session_tags,
            chain: &target.role_chain,
        }
    }

    fn key(&self) -> SessionKey {
        SessionKey {
            role_arn: self.role_arn.to_string(),
            external_id_digest: self.external_id.map(|id| hex::encode(Sha256::digest(id.as_bytes()))),
            region: self.region.to_string(),
            session_name: self.session_name.clone(),
            duration_seconds: self.duration_seconds,
            tags: self.tags.to_vec(),
            chain: self.chain.to_vec(),
        }
    }
}

/// SDK clients that act as the assumed role in the target account, behind
/// that account's rate limit.
#[derive(Clone, Debug)]
pub struct TargetClients {
    /// Tells sessions apart (batched polling uses one session's credentials).
    pub id: u64,
    pub s3: super::s3::Client,
    pub codedeploy: super::codedeploy::Client,
    pub sts: super::sts::Client,
}

/// A session not used for this long is dropped (a deleted namespace or
/// TargetAccount must not keep its credentials in memory forever); using it
/// again assumes the role afresh.
const IDLE_SESSION: Duration = Duration::from_secs(2 * 60 * 60);

/// Cache of assumed-role sessions, shared by all controllers.
pub struct SessionCache {
    base: SdkConfig,
    s3_force_path_style: bool,
    gates: Arc<Gates>,
    sessions: Mutex<HashMap<SessionKey, (TargetClients, Instant)>>,
    hits: AtomicU64,
    misses: AtomicU64,
    cached: AtomicU64,
    /// Sessions built so far: each one's id.
    built: AtomicU64,
    /// The operator's own account id; it cannot change while the process runs.
    own_account: tokio::sync::OnceCell<String>,
}

impl SessionCache {
    /// `base` is the operator's own identity (aws-config's default chain: env,
    /// IRSA web identity, EKS Pod Identity, instance profile).
    pub fn new(base: SdkConfig, s3_force_path_style: bool, calls_per_second: u32) -> Self {
        Self {
            base,
            s3_force_path_style,
            gates: Gates::new(calls_per_second),
            sessions: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            built: AtomicU64::new(0),
            own_account: tokio::sync::OnceCell::new(),
        }
    }

    /// S3 as the operator's own identity, in `region` (else the default one).
    pub fn own_s3(&self, region: Option<&str>) -> super::s3::Client {
        let mut config = aws_sdk_s3::config::Builder::from(&self.base).force_path_style(self.s3_force_path_style);
        if let Some(r) = region {
            config = config.region(Region::new(r.to_string()));
        }
        let region = region.map_or_else(
            || self.base.region().map(|r| r.to_string()).unwrap_or_default(),
            str::to_string,
        );
        Gated::new(
            aws_sdk_s3::Client::from_conf(config.build()),
            self.gates.gate(OWN_IDENTITY, &region),
        )
    }

    /// The operator's own account id: one sts:GetCallerIdentity per process.
    pub async fn own_account(&self) -> Result<String, super::AwsError> {
        self.own_account
            .get_or_try_init(|| async {
                let region = self.base.region().map(|r| r.to_string()).unwrap_or_default();
                let sts = Gated::new(
                    aws_sdk_sts::Client::new(&self.base),
                    self.gates.gate(OWN_IDENTITY, &region),
                );
                super::sts::account_of(&sts).await
            })
            .await
            .cloned()
    }

    /// Who the operator's own identity is (sts:GetCallerIdentity, not cached).
    pub async fn own_caller(&self) -> Result<super::sts::Caller, super::AwsError> {
        let region = self.base.region().map(|r| r.to_string()).unwrap_or_default();
        let sts = Gated::new(
            aws_sdk_sts::Client::new(&self.base),
            self.gates.gate(OWN_IDENTITY, &region),
        );
        super::sts::caller(&sts).await
    }

    /// Clients for the session; no AWS call is made here, STS is called lazily
    /// by the first request that needs credentials.
    pub async fn clients(&self, req: &SessionRequest<'_>) -> TargetClients {
        let key = req.key();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().await;
        if let Some((clients, used)) = sessions.get_mut(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            *used = now;
            return clients.clone();
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        sessions.retain(|_, (_, used)| now.duration_since(*used) < IDLE_SESSION);
        let clients = self.build(req).await;
        sessions.insert(key, (clients.clone(), now));
        self.cached.store(sessions.len() as u64, Ordering::Relaxed);
        clients
    }

    /// Forget a session whose credentials AWS reported as expired or revoked,
    /// so the next request assumes the role afresh.
    pub async fn invalidate(&self, req: &SessionRequest<'_>) {
        let mut sessions = self.sessions.lock().await;
        sessions.remove(&req.key());
        self.cached.store(sessions.len() as u64, Ordering::Relaxed);
    }

    /// (hits, misses, sessions cached now) of the session cache.
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.cached.load(Ordering::Relaxed),
        )
    }

    async fn build(&self, req: &SessionRequest<'_>) -> TargetClients {
        let region = Region::new(req.region.to_string());
        let step = |role: &str| {
            let mut b = AssumeRoleProvider::builder(role)
                .session_name(req.session_name.clone())
                .region(region.clone())
                .configure(&self.base);
            if !req.tags.is_empty() {
                b = b.tags(req.tags.iter().map(|t| (t.key.clone(), t.value.clone())));
            }
            b
        };
        // Each hop is authorized by the previous hop's credentials.
        let mut previous: Option<AssumeRoleProvider> = None;
        for role in req.chain {
            let b = step(role);
            previous = Some(match previous.take() {
                None => b.build().await,
                Some(p) => b.build_from_provider(p).await,
            });
        }
        let mut last = step(req.role_arn);
        if let Some(id) = req.external_id {
            last = last.external_id(id);
        }
        if let Some(secs) = req.duration_seconds {
            last = last.session_length(Duration::from_secs(u64::try_from(secs).unwrap_or(3600)));
        }
        let provider = match previous {
            None => last.build().await,
            Some(p) => last.build_from_provider(p).await,
        };
        let config = self
            .base
            .to_builder()
            .region(region)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
            .identity_cache(IdentityCache::lazy().buffer_time(REFRESH_BEFORE_EXPIRY).build())
            .build();
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(self.s3_force_path_style)
            .build();
        let account = req.role_arn.split(':').nth(4).unwrap_or_default();
        let gate = self.gates.gate(account, req.region);
        TargetClients {
            id: self.built.fetch_add(1, Ordering::Relaxed),
            s3: Gated::new(aws_sdk_s3::Client::from_conf(s3_config), gate.clone()),
            codedeploy: Gated::new(aws_sdk_codedeploy::Client::new(&config), gate.clone()),
            sts: Gated::new(aws_sdk_sts::Client::new(&config), gate),
        }
    }
}

/// Role session name for CloudTrail: which tool and which tenant namespace.
/// STS allows 2-64 characters of `[\w+=,.@-]`.
pub fn session_name(scope: &str) -> String {
    let mut name: String = format!("crossdeploy.{scope}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(64);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_valid_for_sts() {
        assert_eq!(session_name("team-a"), "crossdeploy.team-a");
        assert_eq!(session_name("a/b"), "crossdeploy.a-b");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn key_distinguishes_external_ids_without_holding_them() {
        let req = |id| SessionRequest {
            role_arn: "arn:aws:iam::222222222222:role/R",
            external_id: id,
            region: "us-east-1",
            session_name: "s".into(),
            duration_seconds: None,
            tags: &[],
            chain: &[],
        };
        let a = req(Some("secret-one")).key();
        let b = req(Some("secret-two")).key();
        assert!(a != b);
        assert!(!a.external_id_digest.as_deref().unwrap_or_default().contains("secret"));
        assert!(req(None).key() != a);
        let chain = ["arn:aws:iam::333333333333:role/Hub".to_string()];
        let chained = SessionRequest {
            chain: &chain,
            ..req(Some("secret-one"))
        };
        assert!(chained.key() != a, "a chained session is another session");
        let tags = [SessionTag {
            key: "team".into(),
            value: "a".into(),
        }];
        let tagged = SessionRequest {
            tags: &tags,
            ..req(Some("secret-one"))
        };
        assert!(tagged.key() != a, "tags are part of the session");
    }
}
