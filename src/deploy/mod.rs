//! Deployment logic that needs no I/O: the lifecycle state machine, the
//! exactly-once marker and the diagnosis of AWS failures.

pub mod diagnosis;
pub mod marker;
pub mod statemachine;
