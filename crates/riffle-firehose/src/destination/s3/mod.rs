//! The S3 destination: object keys and prefixes, compression, error output.
