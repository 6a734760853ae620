//! What CodeDeploy needs from an S3 revision, judged the same way for
//! CrossAccountDeployments and RevisionSources: the object exists (guide
//! step 4) and the bucket policy grants the production instance profile
//! (guide step 2, evaluated offline). CodeDeploy does not fetch a bundle
//! with the caller's credentials; the instances do, with their instance
//! profile, so the cross-account role's own read is never required.

pub mod bucket_policy;
pub mod check;
pub mod look;
pub mod step2;
