//! Object storage for delivered objects: a local directory or an S3-compatible server.
