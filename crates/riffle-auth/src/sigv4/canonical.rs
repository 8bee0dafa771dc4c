//! The canonical request and string to sign (reference §1.2–1.3), built
//! from the request exactly as received.

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::parse::{query_pairs, Auth, ALGORITHM};
use super::SignedRequest;

/// RFC 3986 unreserved characters stay; everything else is `%XX` (uppercase).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same for paths, where `/` separates segments.
const PATH: &AsciiSet = &STRICT.remove(b'/');

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Non-S3 canonical URI: RFC 3986 dot-segment removal, `//` collapsed, then
/// the received (already encoded) path encoded again.
pub(crate) fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in path.split('/') {
        trailing = false;
        match seg {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                segments.pop();
                trailing = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for s in &segments {
        out.push('/');
        out.extend(percent_encode(s.as_bytes(), PATH));
    }
    if segments.is_empty() || trailing {
        out.push('/');
    }
    out
}

/// Decoded, strictly re-encoded and sorted by name then value, as bytes.
/// `skip` names parameters left out (`X-Amz-Signature` of a presigned request,
/// and the session token when it was appended after signing).
pub(crate) fn canonical_query(query: Option<&str>, skip: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query.unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| !skip.iter().any(|s| s.as_bytes() == k.as_slice()))
        .map(|(k, v)| {
            (
                percent_encode(&k, STRICT).to_string(),
                percent_encode(&v, STRICT).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// A header value as signed: obs-folds joined by a space, ends trimmed,
/// runs of spaces collapsed (tabs inside are kept, as the Rust and Java v2
/// SDKs do).
fn normalize_value(v: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut i = 0;
    let mut pending_space = false;
    while i < v.len() {
        let b = v[i];
        if b == b'\r' || b == b'\n' || b == b' ' || b == b'\t' {
            // A run of whitespace: a space unless it is only tabs (kept) or
            // at an end (trimmed).
            let run_start = i;
            while i < v.len() && matches!(v[i], b'\r' | b'\n' | b' ' | b'\t') {
                i += 1;
            }
            let run = &v[run_start..i];
            if run.iter().all(|c| *c == b'\t') {
                if out.len() > start && i < v.len() {
                    out.extend_from_slice(run);
                }
            } else {
                pending_space = out.len() > start;
            }
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b);
        i += 1;
    }
}

/// The canonical header block (each line ends in `\n`) for `SignedHeaders`,
/// in the order listed; repeats join with `,` in arrival order. An HTTP/2
/// request's `:authority` stands in for a missing `host`.
pub(crate) fn canonical_headers(req: &SignedRequest<'_>, auth: &Auth) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for name in auth.signed_names() {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values: Vec<&[u8]> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| *v)
            .collect();
        if values.is_empty() && name == "host" {
            values = req
                .headers
                .iter()
                .filter(|(n, _)| *n == ":authority")
                .map(|(_, v)| *v)
                .collect();
        }
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            normalize_value(v, &mut out);
        }
        out.push(b'\n');
    }
    out
}

/// The payload hash line: a signed `x-amz-content-sha256` literally
/// (`UNSIGNED-PAYLOAD` included), else the body's SHA-256.
pub(crate) fn payload_hash(req: &SignedRequest<'_>, auth: &Auth) -> PayloadHash {
    if auth.signs("x-amz-content-sha256") {
        if let Some((_, v)) = req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
        {
            return PayloadHash::Declared(String::from_utf8_lossy(v).trim().to_string());
        }
    }
    PayloadHash::Body(sha256_hex(req.body))
}

pub(crate) enum PayloadHash {
    /// Computed from the body.
    Body(String),
    /// Taken from a signed `x-amz-content-sha256`.
    Declared(String),
}

impl PayloadHash {
    pub fn as_str(&self) -> &str {
        match self {
            PayloadHash::Body(h) | PayloadHash::Declared(h) => h,
        }
    }
}

/// `Method\nURI\nQuery\nHeaders\n\nSignedHeaders\nPayloadHash`.
pub(crate) fn canonical_request(
    req: &SignedRequest<'_>,
    auth: &Auth,
    query_skip: &[&str],
    payload: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query, query_skip).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&canonical_headers(req, auth));
    out.push(b'\n');
    out.extend_from_slice(auth.signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload.as_bytes());
    out
}

/// `AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256(creq)>`, no trailing newline.
pub(crate) fn string_to_sign(auth: &Auth, creq: &[u8]) -> String {
    let s = &auth.scope;
    format!(
        "{ALGORITHM}\n{}\n{}/{}/{}/{}\n{}",
        auth.amz_date,
        s.date,
        s.region,
        s.service,
        s.terminator,
        sha256_hex(creq)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_normalization_and_double_encoding() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/a/b/../c", "/a/c"),
            ("/a/./b/.", "/a/b/"),
            ("/./", "/"),
            ("/..", "/"),
            ("/a%20b", "/a%2520b"),
            ("/example space/", "/example%20space/"),
            ("/\u{1234}", "/%E1%88%B4"),
            ("/-._~AZaz09", "/-._~AZaz09"),
            ("/a+b:c", "/a%2Bb%3Ac"),
        ] {
            assert_eq!(canonical_uri(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        assert_eq!(canonical_query(None, &[]), "");
        assert_eq!(
            canonical_query(Some("b=2&a=1&a=0&c"), &[]),
            "a=0&a=1&b=2&c="
        );
        assert_eq!(
            canonical_query(Some("k=a+b%20c~%7E*"), &[]),
            "k=a%20b%20c~~%2A"
        );
        // Sorting is on the encoded names, as bytes.
        assert_eq!(
            canonical_query(Some("Param-3=x&Param=y&%E1%88%B4=z"), &[]),
            "%E1%88%B4=z&Param=y&Param-3=x"
        );
        assert_eq!(
            canonical_query(Some("X-Amz-Signature=abc&a=1"), &["X-Amz-Signature"]),
            "a=1"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let norm = |v: &str| {
            let mut out = Vec::new();
            normalize_value(v.as_bytes(), &mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        assert_eq!(norm("  a   b  "), "a b");
        assert_eq!(norm("\"a   b   c\""), "\"a b c\"");
        assert_eq!(
            norm("value1\r\n  value2\n     value3"),
            "value1 value2 value3"
        );
        assert_eq!(norm("a\tb"), "a\tb");
        assert_eq!(norm("\ta b\t"), "a b");
        assert_eq!(norm(""), "");
    }
}
