//! RevisionSource logic without I/O: choosing the object under a prefix,
//! evaluating bucket policies (guide step 2), judging a poll, scheduling the
//! next one, and pinning a source's revision for a deployment.

pub mod bucket_policy;
pub mod diagnosis;
pub mod digest;
pub mod pinned;
pub mod schedule;
pub mod selection;
pub mod semver;
pub mod step2;
pub mod verdict;
