//! Watch streams that wake a controller only when something it depends on
//! changed. kube's predicates drop deletions whose hashed fields did not
//! change; a deleted dependency must still wake its dependents. The kinds
//! every controller depends on come from [`super::feed`]; this is for a
//! controller's own extra watch (promotion sources).

use std::collections::HashMap;
use std::fmt::Debug;

use futures::{Stream, StreamExt, future};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Namespace, name and uid: a re-created object is a new one.
type ObjectId = (Option<String>, Option<String>, Option<String>);

/// Objects whose `key` differs from the last one seen, and every deletion.
pub fn changed_or_deleted<K, F>(
    api: Api<K>,
    config: watcher::Config,
    key: F,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(&K) -> u64 + Send + 'static,
{
    let mut seen: HashMap<ObjectId, u64> = HashMap::new();
    let id = |o: &K| -> ObjectId {
        let m = o.meta();
        (m.namespace.clone(), m.name.clone(), m.uid.clone())
    };
    watch(api, config)
        .default_backoff()
        .modify(super::trim_for_cache::<K>)
        .filter_map(move |event| {
            let out = match event {
                Ok(Event::Apply(o) | Event::InitApply(o)) => {
                    let hash = key(&o);
                    (seen.insert(id(&o), hash) != Some(hash)).then_some(Ok(o))
                }
                Ok(Event::Delete(o)) => {
                    seen.remove(&id(&o));
                    Some(Ok(o))
                }
                Ok(Event::Init | Event::InitDone) => None,
                Err(e) => Some(Err(e)),
            };
            future::ready(out)
        })
}

/// A stable hash of whatever a trigger keys on.
pub fn hash_of<T: std::hash::Hash>(value: &T) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(value)
}
