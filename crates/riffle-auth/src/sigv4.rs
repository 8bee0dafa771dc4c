//! SigV4 verification (to be built).
