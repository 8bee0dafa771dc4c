//! botocore patterns with Java's semantics, for the generated Firehose schema.
//! Several Firehose patterns use look-around (`^(?!\s*$).+`, `^(?!aws:)…`),
//! which the `regex` crate refuses; `fancy-regex` runs them (and delegates
//! the rest to `regex`). The generator rewrites Java's ASCII-only classes
//! (`\d`, `\w`, `\s`, `\S`) and `\uXXXX` escapes and anchors the pattern, as
//! Java's `matches()` applies a pattern to the whole string.

use crate::schema::Pattern;
use fancy_regex::Regex;
use std::sync::OnceLock;

pub struct JavaPattern {
    /// As the model spells it (and AWS prints it).
    source: &'static str,
    /// The translated, anchored pattern.
    pub(super) rust: &'static str,
    compiled: OnceLock<Option<Regex>>,
}

impl JavaPattern {
    pub const fn new(source: &'static str, rust: &'static str) -> Self {
        JavaPattern {
            source,
            rust,
            compiled: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for JavaPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.source)
    }
}

impl Pattern for JavaPattern {
    fn source(&self) -> &'static str {
        self.source
    }

    fn is_match(&self, s: &str) -> bool {
        match self.compiled.get_or_init(|| Regex::new(self.rust).ok()) {
            // A pattern that does not compile (a test proves none does) or
            // that exceeds the backtrack limit accepts rather than refuses.
            Some(re) => re.is_match(s).unwrap_or(true),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::ALL_PATTERNS;
    use crate::schema::Pattern;

    #[test]
    fn every_generated_pattern_compiles() {
        for p in ALL_PATTERNS {
            assert!(
                fancy_regex::Regex::new(p.rust).is_ok(),
                "{} ({})",
                p.source(),
                p.rust
            );
        }
    }

    #[test]
    fn java_semantics() {
        let find = |src: &str| {
            ALL_PATTERNS
                .iter()
                .find(|p| p.source() == src)
                .unwrap_or_else(|| panic!("no pattern {src}"))
        };
        let not_blank = find(r"^(?!\s*$).+");
        assert!(not_blank.is_match("x"));
        assert!(!not_blank.is_match("   "));
        let name = find("[a-zA-Z0-9_.-]+");
        assert!(name.is_match("my-stream_1.x"));
        assert!(!name.is_match("a b"));
        assert!(!name.is_match("é"));
        let bucket = find(r"arn:.*:s3:::[\w\.\-]{1,255}");
        assert!(bucket.is_match("arn:aws:s3:::my-bucket"));
        assert!(!bucket.is_match("arn:aws:s3:::bücket"));
        let tag = find(r"^(?!aws:)[\p{L}\p{Z}\p{N}_.:\/=+\-@%]*$");
        assert!(tag.is_match("team"));
        assert!(!tag.is_match("aws:team"));
        assert!(!tag.is_match("a\tb"));
    }
}
