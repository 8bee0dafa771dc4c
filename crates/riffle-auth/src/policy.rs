//! IAM policy evaluation (to be built).
