//! What the operator's cache of N objects weighs: a counting allocator for
//! the bench program, and the heap one object takes once deserialized and
//! trimmed the way the operator caches it. The operator's RSS has a floor of
//! N times that, whatever else it does.

use std::alloc::System;
use std::sync::Arc;

use crossdeploy::api::CrossAccountDeployment;
use stats_alloc::{Region, StatsAlloc};

/// The bench program's allocator: the system one, counting bytes.
pub static COUNTING: StatsAlloc<System> = StatsAlloc::system();

/// Heap bytes one cached copy of `json` takes (averaged over `copies`, which
/// are alive together as in a store; other tasks' allocations during the
/// measurement are noise of a few bytes per copy).
pub fn cached_object_bytes(json: &str, copies: usize) -> anyhow::Result<usize> {
    let region = Region::new(&COUNTING);
    let mut store = Vec::with_capacity(copies);
    for _ in 0..copies {
        let mut obj: CrossAccountDeployment = serde_json::from_str(json)?;
        crossdeploy::runtime::trim_for_cache(&mut obj);
        store.push(Arc::new(obj));
    }
    let change = region.change();
    drop(store);
    let live = change.bytes_allocated as isize - change.bytes_deallocated as isize + change.bytes_reallocated;
    Ok(live.max(0) as usize / copies.max(1))
}
