//! What CodeDeploy needs from an S3 revision, judged the same way for
//! CrossAccountDeployments and RevisionSources: guide step 2 (the bucket
//! policy grants the production instance profile) evaluated offline.

pub mod bucket_policy;
pub mod step2;
