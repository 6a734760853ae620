//! One watch per kind a reconcile depends on (TargetAccount, Namespace,
//! RevisionSource): a store that reconciles look objects up in instead of
//! GETting them from the API server, and the changes that wake every
//! controller depending on the kind.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};

/// Changes buffered per subscriber; a slower one resynchronises from the
/// store instead of missing a wake-up.
const BUFFER: usize = 4096;

#[derive(Clone, Debug)]
enum Change<K> {
    Applied(Arc<K>),
    Deleted(Arc<K>),
}

/// A kind, watched once and shared.
pub struct Feed<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
    synced: watch::Receiver<bool>,
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Starts the watch in the background.
    pub fn start(api: Api<K>, config: watcher::Config) -> Arc<Self> {
        let (store, mut writer) = reflector::store();
        let (changes, _) = broadcast::channel(BUFFER);
        let (synced_tx, synced) = watch::channel(false);
        let sender = changes.clone();
        let events = watcher(api, config)
            .default_backoff()
            .modify(super::trim_for_cache::<K>);
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                writer.apply_watcher_event(&event);
                let change = match event {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => Change::Applied(Arc::new(o)),
                    watcher::Event::Delete(o) => Change::Deleted(Arc::new(o)),
                    watcher::Event::InitDone => {
                        let _ = synced_tx.send(true);
                        continue;
                    }
                    watcher::Event::Init => continue,
                };
                // No subscriber yet is fine: they start from the store.
                let _ = sender.send(change);
            }
        });
        Arc::new(Self { store, changes, synced })
    }

    pub fn get(&self, name: &str, namespace: Option<&str>) -> Option<Arc<K>> {
        let key = match namespace {
            Some(ns) => ObjectRef::new(name).within(ns),
            None => ObjectRef::new(name),
        };
        self.store.get(&key)
    }

    pub fn state(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// Resolves once the first complete list is in the store.
    pub async fn synced(&self) {
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|s| *s).await;
    }

    /// For one controller: objects whose `key` changed since it last saw
    /// them, and every deletion (a deleted dependency must wake its
    /// dependents). After falling behind it compares the store with what it
    /// saw, so no change is lost.
    pub fn changes<F>(self: &Arc<Self>, key: F) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
    where
        F: Fn(&K) -> u64 + Send + 'static,
    {
        let state = Subscriber {
            feed: self.clone(),
            rx: self.changes.subscribe(),
            seen: HashMap::new(),
            key,
            pending: Vec::new(),
        };
        futures::stream::unfold(state, |mut s| async move {
            let next = s.next().await;
            next.map(|o| (Ok(o), s))
        })
    }
}

/// Namespace, name and uid: a re-created object is a new one.
type ObjectId = (Option<String>, String, Option<String>);

fn id<K: Resource>(o: &K) -> ObjectId {
    (o.namespace(), o.name_any(), o.uid())
}

struct Subscriber<K: Resource<DynamicType = ()> + 'static, F> {
    feed: Arc<Feed<K>>,
    rx: broadcast::Receiver<Change<K>>,
    /// What this subscriber last saw of each object, and its key's hash.
    seen: HashMap<ObjectId, (u64, Arc<K>)>,
    key: F,
    pending: Vec<K>,
}

impl<K, F> Subscriber<K, F>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    F: Fn(&K) -> u64,
{
    async fn next(&mut self) -> Option<K> {
        loop {
            if let Some(o) = self.pending.pop() {
                return Some(o);
            }
            match self.rx.recv().await {
                Ok(Change::Applied(o)) => {
                    let hash = (self.key)(&o);
                    let before = self.seen.insert(id(&*o), (hash, o.clone()));
                    if before.map(|(h, _)| h) != Some(hash) {
                        return Some((*o).clone());
                    }
                }
                Ok(Change::Deleted(o)) => {
                    self.seen.remove(&id(&*o));
                    return Some((*o).clone());
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "change feed fell behind; resynchronising from the store");
                    self.resync();
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// What changed between what this subscriber saw and the store now;
    /// objects gone from the store are announced as they were last seen.
    fn resync(&mut self) {
        let now: HashMap<ObjectId, Arc<K>> = self.feed.state().into_iter().map(|o| (id(&*o), o)).collect();
        let gone: Vec<ObjectId> = self
            .seen
            .keys()
            .filter(|oid| !now.contains_key(*oid))
            .cloned()
            .collect();
        for oid in gone {
            if let Some((_, o)) = self.seen.remove(&oid) {
                self.pending.push((*o).clone());
            }
        }
        for (oid, o) in now {
            let hash = (self.key)(&o);
            let before = self.seen.insert(oid, (hash, o.clone()));
            if before.map(|(h, _)| h) != Some(hash) {
                self.pending.push((*o).clone());
            }
        }
    }
}
