//! The auth config file (to be built).
