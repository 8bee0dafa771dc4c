//! SigV4 verification against the AWS signing test suite, the Rust SDK's
//! signer (aws-sigv4) and botocore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign as sdk_sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings,
};
use riffle_auth::sigv4::{
    canonicalize, sign, verify, Expect, SigV4Error, SignedRequest, Verifier, SIGNATURE_MISMATCH,
};
use riffle_auth::{Credential, CredentialStore, Principal, PrincipalKind};

// ---------------------------------------------------------------------------
// Shared helpers

#[derive(Default)]
struct Store(HashMap<String, Credential>);

impl CredentialStore for Store {
    fn credential(&self, access_key_id: &str) -> Option<Credential> {
        self.0.get(access_key_id).cloned()
    }
}

fn principal(name: &str) -> Arc<Principal> {
    Arc::new(Principal {
        kind: PrincipalKind::User,
        account_id: "123456789012".into(),
        arn: format!("arn:aws:iam::123456789012:user/{name}"),
        principal_id: format!("AIDA{name}"),
        name: name.into(),
        issuer_arn: None,
        tags: Default::default(),
    })
}

fn credential(
    akid: &str,
    secret: &str,
    token: Option<&str>,
    expires: Option<SystemTime>,
) -> Credential {
    Credential {
        access_key_id: akid.into(),
        secret_access_key: secret.into(),
        session_token: token.map(str::to_string),
        expires,
        principal: principal(akid),
    }
}

/// A request held by value, lent out as a [`SignedRequest`].
#[derive(Clone, Debug)]
struct Owned {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Owned {
    fn with<R>(&self, f: impl FnOnce(&SignedRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = SignedRequest {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &headers,
            body: &self.body,
        };
        f(&req)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
    }

    fn set_header(&mut self, name: &str, value: &str) {
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value.as_bytes().to_vec(),
            None => self.headers.push((name.into(), value.as_bytes().to_vec())),
        }
    }

    /// Changes one hex digit of the signature, wherever it is.
    fn tamper_signature(&mut self) {
        fn flip(s: &str) -> String {
            let (head, last) = s.split_at(s.len() - 1);
            format!("{head}{}", if last == "0" { "1" } else { "0" })
        }
        if let Some(auth) = self.header("authorization") {
            self.set_header("Authorization", &flip(&auth));
        } else {
            let q = self.query.clone().unwrap();
            let out: Vec<String> = q
                .split('&')
                .map(|p| match p.strip_prefix("X-Amz-Signature=") {
                    Some(sig) => format!("X-Amz-Signature={}", flip(sig)),
                    None => p.to_string(),
                })
                .collect();
            self.query = Some(out.join("&"));
        }
    }
}

fn expect_err(r: Result<riffle_auth::sigv4::Verified, SigV4Error>, aws_type: &str, message: &str) {
    let e = r.expect_err("verification should fail");
    assert_eq!(
        (e.aws_type(), e.message(), e.status()),
        (aws_type, message, 400),
        "{e}"
    );
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn basic(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

// ---------------------------------------------------------------------------
// (1) The AWS SigV4 test suite (aws-c-auth, non-S3 cases)

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-suite")
}

/// Reads a suite `*-signed-request.txt`: request line, headers (folded
/// lines continue the previous one), blank line, body.
fn parse_http(text: &str) -> Owned {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.split('\n');
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push(b'\n');
            last.1.extend_from_slice(line.as_bytes());
        } else {
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.to_string(), v.as_bytes().to_vec()));
        }
    }
    Owned {
        method: method.into(),
        path,
        query,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

struct Case {
    name: String,
    dir: PathBuf,
    context: serde_json::Value,
}

impl Case {
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }
    fn secret(&self) -> String {
        self.context["credentials"]["secret_access_key"]
            .as_str()
            .unwrap()
            .into()
    }
    fn token(&self) -> Option<&str> {
        self.context["credentials"]["token"].as_str()
    }
    fn now(&self) -> SystemTime {
        let ts = self.context["timestamp"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(ts).unwrap().into()
    }
    /// The scope date: the timestamp's day.
    fn day(&self) -> String {
        basic(self.now())[..8].to_string()
    }
    fn store(&self) -> Store {
        let akid = self.context["credentials"]["access_key_id"]
            .as_str()
            .unwrap();
        let mut s = Store::default();
        s.0.insert(
            akid.into(),
            credential(akid, &self.secret(), self.token(), None),
        );
        s
    }
    fn expect(&self) -> Expect<'_> {
        Expect::new(
            self.context["region"].as_str().unwrap(),
            self.context["service"].as_str().unwrap(),
            self.now(),
        )
    }
}

fn suite() -> Vec<Case> {
    let mut cases: Vec<Case> = std::fs::read_dir(suite_dir())
        .unwrap()
        .filter_map(|e| {
            let dir = e.unwrap().path();
            dir.is_dir().then(|| {
                let context = serde_json::from_str(
                    &std::fs::read_to_string(dir.join("context.json")).unwrap(),
                )
                .unwrap();
                Case {
                    name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                    dir,
                    context,
                }
            })
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

fn without_query_param(req: &Owned, name: &str) -> Owned {
    let mut out = req.clone();
    let q = out.query.take().unwrap_or_default();
    let kept: Vec<&str> = q
        .split('&')
        .filter(|p| !p.starts_with(&format!("{name}=")))
        .collect();
    out.query = Some(kept.join("&"));
    out
}

#[test]
fn aws_test_suite_canonical_request_string_to_sign_and_signature() {
    let cases = suite();
    assert_eq!(cases.len(), 31, "every non-S3 case of the suite is present");
    for case in &cases {
        for form in ["header", "query"] {
            let label = format!("{} ({form})", case.name);
            let signed = parse_http(&case.read(&format!("{form}-signed-request.txt")));
            // A token appended after signing is not part of the canonical query.
            let omit = case.context["omit_session_token"].as_bool() == Some(true);
            let canonical_input = if form == "query" && omit {
                without_query_param(&signed, "X-Amz-Security-Token")
            } else {
                signed.clone()
            };
            let canonical = canonical_input.with(canonicalize).unwrap();
            assert_eq!(
                canonical.canonical_request,
                case.read(&format!("{form}-canonical-request.txt")),
                "{label}: canonical request"
            );
            assert_eq!(
                canonical.string_to_sign,
                case.read(&format!("{form}-string-to-sign.txt")),
                "{label}: string to sign"
            );
            let signature = sign(
                &case.secret(),
                &case.day(),
                case.context["region"].as_str().unwrap(),
                case.context["service"].as_str().unwrap(),
                &canonical.string_to_sign,
            )
            .unwrap();
            assert_eq!(
                signature,
                case.read(&format!("{form}-signature.txt")).trim(),
                "{label}: signature"
            );
        }
    }
}

#[test]
fn aws_test_suite_requests_verify_and_a_changed_signature_does_not() {
    let verifier = Verifier::new();
    for case in suite() {
        for form in ["header", "query"] {
            let label = format!("{} ({form})", case.name);
            let signed = parse_http(&case.read(&format!("{form}-signed-request.txt")));
            let store = case.store();
            let ok = signed
                .with(|r| verifier.verify(r, &case.expect(), &store))
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(ok.presigned, form == "query", "{label}");
            assert_eq!(ok.signed_at, case.now(), "{label}");
            assert_eq!(ok.credential.access_key_id, "AKIDEXAMPLE", "{label}");
            assert!(ok.payload_signed, "{label}");

            let mut bad = signed.clone();
            bad.tamper_signature();
            expect_err(
                bad.with(|r| verify(r, &case.expect(), &store)),
                "InvalidSignatureException",
                SIGNATURE_MISMATCH,
            );
        }
    }
}

// ---------------------------------------------------------------------------
// (2) Requests signed by the Rust SDK's signer

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TEMP_AKID: &str = "ASIAIOSFODNN7EXAMPLE";
const TEMP_SECRET: &str = "temporarySecretKeyForTestsOnly/0123456789";
const TOKEN: &str = "FQoGZXIvYXdzEXAMPLE//token+with/odd=chars";
const REGION: &str = "us-east-1";
/// 2026-03-01T10:20:30Z.
const T0: u64 = 1_772_360_430;

fn store() -> Store {
    let mut s = Store::default();
    s.0.insert(AKID.into(), credential(AKID, SECRET, None, None));
    s.0.insert(
        TEMP_AKID.into(),
        credential(TEMP_AKID, TEMP_SECRET, Some(TOKEN), Some(at(T0 + 3600))),
    );
    s
}

fn kinesis_at(now: SystemTime) -> Expect<'static> {
    Expect::new(REGION, "kinesis", now)
}

struct Signing<'a> {
    method: &'a str,
    /// Path and query as they go on the wire.
    target: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
    akid: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
    region: &'a str,
    service: &'a str,
    time: SystemTime,
    presign: Option<Duration>,
    body_mode: BodyMode,
}

enum BodyMode {
    Bytes,
    Unsigned,
    Precomputed(String),
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Signing {
            method: "POST",
            target: "/",
            headers: vec![
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "Kinesis_20131202.PutRecord"),
            ],
            body: br#"{"StreamName":"s","Data":"aGk=","PartitionKey":"p"}"#,
            akid: AKID,
            secret: SECRET,
            token: None,
            region: REGION,
            service: "kinesis",
            time: at(T0),
            presign: None,
            body_mode: BodyMode::Bytes,
        }
    }
}

const HOST: &str = "localhost:4567";

/// Signs with aws-sigv4 and returns the request as the server would see it.
fn sdk(s: Signing<'_>) -> Owned {
    let identity = aws_credential_types::Credentials::new(
        s.akid,
        s.secret,
        s.token.map(str::to_string),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    if let Some(expires) = s.presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let body = match &s.body_mode {
        BodyMode::Bytes => SignableBody::Bytes(s.body),
        BodyMode::Unsigned => {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            SignableBody::UnsignedPayload
        }
        BodyMode::Precomputed(h) => {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            SignableBody::Precomputed(h.clone())
        }
    };
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(s.region)
        .name(s.service)
        .time(s.time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{HOST}{}", s.target);
    let signable =
        SignableRequest::new(s.method, uri.clone(), s.headers.iter().copied(), body).unwrap();
    let (instructions, _) = sdk_sign(signable, &params).unwrap().into_parts();
    let mut builder = http::Request::builder().method(s.method).uri(&uri);
    for (n, v) in &s.headers {
        builder = builder.header(*n, *v);
    }
    let mut req = builder.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let mut headers: Vec<(String, Vec<u8>)> = vec![("host".into(), HOST.as_bytes().to_vec())];
    for (n, v) in req.headers() {
        headers.push((n.as_str().to_string(), v.as_bytes().to_vec()));
    }
    Owned {
        method: s.method.into(),
        path: req.uri().path().into(),
        query: req.uri().query().map(str::to_string),
        headers,
        body: s.body.to_vec(),
    }
}

#[test]
fn sdk_signed_requests_verify() {
    let store = store();
    let verifier = Verifier::new();
    let now = at(T0 + 30);
    let cases: Vec<(&str, Signing<'_>)> = vec![
        ("json PutRecord", Signing::default()),
        (
            "GET with query and odd path",
            Signing {
                method: "GET",
                target: "/a%20b/c+d/%E1%88%B4?z=1&a=x%20y&a=b&empty=&k=%2B~",
                headers: vec![("x-custom", "  spaced    out  ")],
                body: b"",
                ..Default::default()
            },
        ),
        (
            "PUT with binary body",
            Signing {
                method: "PUT",
                body: &[0, 159, 146, 150, 255, 10],
                headers: vec![("content-type", "application/x-amz-cbor-1.1")],
                ..Default::default()
            },
        ),
        (
            "session token",
            Signing {
                akid: TEMP_AKID,
                secret: TEMP_SECRET,
                token: Some(TOKEN),
                ..Default::default()
            },
        ),
        (
            "firehose signing name",
            Signing {
                service: "firehose",
                ..Default::default()
            },
        ),
        (
            "presigned GET",
            Signing {
                method: "GET",
                target: "/?Action=ListStreams",
                headers: vec![],
                body: b"",
                presign: Some(Duration::from_secs(300)),
                ..Default::default()
            },
        ),
        (
            "presigned with session token",
            Signing {
                method: "GET",
                target: "/",
                headers: vec![],
                body: b"",
                akid: TEMP_AKID,
                secret: TEMP_SECRET,
                token: Some(TOKEN),
                presign: Some(Duration::from_secs(900)),
                ..Default::default()
            },
        ),
    ];
    for (label, signing) in cases {
        let presigned = signing.presign.is_some();
        let service = signing.service;
        let akid = signing.akid;
        let req = sdk(signing);
        let ok = req
            .with(|r| verifier.verify(r, &Expect::new(REGION, service, now), &store))
            .unwrap_or_else(|e| panic!("{label}: {e}\n{req:?}"));
        assert_eq!(ok.presigned, presigned, "{label}");
        assert_eq!(ok.credential.access_key_id, akid, "{label}");
        assert_eq!(ok.signed_at, at(T0), "{label}");
        assert!(ok.payload_signed, "{label}");
        assert_eq!(ok.credential.principal.name, akid, "{label}");
    }
}

#[test]
fn unsigned_payload_is_taken_literally_and_reported() {
    let req = sdk(Signing {
        body_mode: BodyMode::Unsigned,
        ..Default::default()
    });
    assert_eq!(
        req.header("x-amz-content-sha256").unwrap(),
        "UNSIGNED-PAYLOAD"
    );
    let ok = req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store()))
        .unwrap();
    assert!(!ok.payload_signed);
}

#[test]
fn declared_payload_hash_must_match_the_body() {
    let body = br#"{"a":1}"#;
    let good = sdk(Signing {
        body,
        body_mode: BodyMode::Precomputed(hex_sha256(body)),
        ..Default::default()
    });
    let ok = good
        .with(|r| verify(r, &kinesis_at(at(T0)), &store()))
        .unwrap();
    assert!(ok.payload_signed);

    // The header is signed, so the signature holds; the body does not.
    let mut swapped = good.clone();
    swapped.body = br#"{"a":2}"#.to_vec();
    expect_err(
        swapped.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
}

fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn wrong_secret_is_a_signature_mismatch() {
    let req = sdk(Signing {
        secret: "not-the-secret",
        ..Default::default()
    });
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
    );
}

#[test]
fn mismatch_echo_is_opt_in() {
    let req = sdk(Signing {
        secret: "not-the-secret",
        ..Default::default()
    });
    let e = req
        .with(|r| {
            Verifier::new()
                .echo_canonical(true)
                .verify(r, &kinesis_at(at(T0)), &store())
        })
        .unwrap_err();
    let expected = req.with(canonicalize).unwrap();
    assert_eq!(
        e.message(),
        format!(
            "{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'{}'\n\nThe String-to-Sign should have been\n'{}'\n",
            expected.canonical_request, expected.string_to_sign
        )
    );
}

#[test]
fn unknown_key_id_is_unrecognized() {
    let req = sdk(Signing {
        akid: "AKIANOTKNOWN00000000",
        ..Default::default()
    });
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
}

#[test]
fn six_minutes_late_is_expired() {
    let req = sdk(Signing::default());
    let now = at(T0 + 360);
    expect_err(
        req.with(|r| verify(r, &kinesis_at(now), &store())),
        "InvalidSignatureException",
        &format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            basic(at(T0)),
            basic(at(T0 + 60)),
            basic(now)
        ),
    );
    // Exactly five minutes is still in the window.
    assert!(req
        .with(|r| verify(r, &kinesis_at(at(T0 + 300)), &store()))
        .is_ok());
}

#[test]
fn six_minutes_early_is_not_yet_current() {
    let req = sdk(Signing::default());
    let now = at(T0 - 360);
    expect_err(
        req.with(|r| verify(r, &kinesis_at(now), &store())),
        "InvalidSignatureException",
        &format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            basic(at(T0)),
            basic(at(T0 - 60)),
            basic(now)
        ),
    );
    assert!(req
        .with(|r| verify(r, &kinesis_at(at(T0 - 300)), &store()))
        .is_ok());
}

#[test]
fn wrong_region_and_service_use_aws_messages() {
    let req = sdk(Signing {
        region: "us-west-1",
        ..Default::default()
    });
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'us-west-1'. ",
    );
    let req = sdk(Signing {
        service: "dynamodb",
        ..Default::default()
    });
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'kinesis'. ",
    );
}

#[test]
fn body_changed_after_signing_is_a_mismatch() {
    let mut req = sdk(Signing::default());
    req.body = br#"{"StreamName":"other","Data":"aGk=","PartitionKey":"p"}"#.to_vec();
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
    );
}

#[test]
fn unsigned_x_amz_header_is_rejected_but_an_unsigned_token_is_not() {
    let mut req = sdk(Signing::default());
    req.headers.push(("X-Amz-Meta-Extra".into(), b"1".to_vec()));
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        "There were headers present in the request which were not signed: x-amz-meta-extra",
    );
    // Other headers may be added unsigned (proxies add plenty).
    let mut req = sdk(Signing::default());
    req.headers.push(("user-agent".into(), b"curl".to_vec()));
    req.headers
        .push(("x-amzn-trace-id".into(), b"Root=1".to_vec()));
    assert!(req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store()))
        .is_ok());
}

#[test]
fn host_must_be_signed() {
    let mut req = sdk(Signing::default());
    let auth = req.header("authorization").unwrap();
    req.set_header("authorization", &auth.replace("host;", ""));
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "IncompleteSignatureException",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
}

#[test]
fn http2_authority_stands_in_for_host() {
    let mut req = sdk(Signing::default());
    for h in req.headers.iter_mut().filter(|(n, _)| n == "host") {
        h.0 = ":authority".into();
    }
    assert!(req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store()))
        .is_ok());
}

#[test]
fn scope_date_must_match_request_date() {
    // Signed just before midnight; the date header then claims the next day.
    let t = 1_772_409_599; // 2026-03-01T23:59:59Z
    let mut req = sdk(Signing {
        time: at(t),
        ..Default::default()
    });
    req.set_header("x-amz-date", "20260302T000001Z");
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(t)), &store())),
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260301' != '20260302', from '20260302T000001Z'.",
    );
}

#[test]
fn malformed_date_and_missing_auth() {
    let mut req = sdk(Signing::default());
    req.set_header("x-amz-date", "2026-03-01T10:20:30Z");
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "IncompleteSignatureException",
        "Date must be in ISO-8601 'basic format'. Got '2026-03-01T10:20:30Z'. See http://docs.aws.amazon.com/general/latest/gr/sigv4_elements.html",
    );
    let mut req = sdk(Signing::default());
    req.headers.retain(|(n, _)| n != "authorization");
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );
    let mut req = sdk(Signing::default());
    req.query = Some("X-Amz-Algorithm=AWS4-HMAC-SHA256".into());
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
    );
}

#[test]
fn presigned_request_expires_after_x_amz_expires() {
    let req = sdk(Signing {
        method: "GET",
        headers: vec![],
        body: b"",
        presign: Some(Duration::from_secs(60)),
        ..Default::default()
    });
    assert!(req
        .with(|r| verify(r, &kinesis_at(at(T0 + 60)), &store()))
        .is_ok());
    let now = at(T0 + 61);
    expect_err(
        req.with(|r| verify(r, &kinesis_at(now), &store())),
        "InvalidSignatureException",
        &format!(
            "Signature expired: {} is now earlier than {} ({} - 60 sec.)",
            basic(at(T0)),
            basic(at(T0 + 1)),
            basic(now)
        ),
    );
}

#[test]
fn presigned_query_tampering_is_a_mismatch() {
    let mut req = sdk(Signing {
        method: "GET",
        target: "/?Action=ListStreams",
        headers: vec![],
        body: b"",
        presign: Some(Duration::from_secs(60)),
        ..Default::default()
    });
    req.query = req.query.map(|q| q.replace("ListStreams", "DeleteStream"));
    expect_err(
        req.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
    );
}

fn temp(token: Option<&str>, akid: &str, secret: &str) -> Owned {
    sdk(Signing {
        akid,
        secret,
        token,
        ..Default::default()
    })
}

#[test]
fn session_tokens() {
    let store = store();
    let now = kinesis_at(at(T0));
    // Valid.
    let ok = temp(Some(TOKEN), TEMP_AKID, TEMP_SECRET)
        .with(|r| verify(r, &now, &store))
        .unwrap();
    assert_eq!(ok.credential.session_token.as_deref(), Some(TOKEN));
    // Wrong token, signed as such.
    expect_err(
        temp(Some("some-other-token"), TEMP_AKID, TEMP_SECRET).with(|r| verify(r, &now, &store)),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
    // Temporary key without its token.
    expect_err(
        temp(None, TEMP_AKID, TEMP_SECRET).with(|r| verify(r, &now, &store)),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
    // Long-term key with a token.
    expect_err(
        temp(Some(TOKEN), AKID, SECRET).with(|r| verify(r, &now, &store)),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
    // Expired (the credential lives an hour past T0; the request is fresh).
    let later = at(T0 + 3600);
    let req = sdk(Signing {
        akid: TEMP_AKID,
        secret: TEMP_SECRET,
        token: Some(TOKEN),
        time: later,
        ..Default::default()
    });
    expect_err(
        req.with(|r| verify(r, &kinesis_at(later), &store)),
        "ExpiredTokenException",
        "The security token included in the request is expired",
    );
}

#[test]
fn verifier_caches_signing_keys() {
    let verifier = Verifier::with_capacity(8);
    let store = store();
    for _ in 0..3 {
        let req = sdk(Signing::default());
        req.with(|r| verifier.verify(r, &kinesis_at(at(T0)), &store))
            .unwrap();
    }
    assert_eq!(verifier.cached_keys(), 1);
    // A second scope (another service) is a second key.
    let req = sdk(Signing {
        service: "firehose",
        ..Default::default()
    });
    req.with(|r| verifier.verify(r, &Expect::new(REGION, "firehose", at(T0)), &store))
        .unwrap();
    assert_eq!(verifier.cached_keys(), 2);
}

// ---------------------------------------------------------------------------
// (3) botocore

const BOTO_SIGN: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
akid, secret, token = sys.argv[1], sys.argv[2], sys.argv[3] or None
body = json.dumps({"StreamName": "s", "Data": "aGk=", "PartitionKey": "p"})
req = AWSRequest(method="POST", url="http://localhost:4567/", data=body, headers={
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "Kinesis_20131202.PutRecord",
})
SigV4Auth(Credentials(akid, secret, token), "kinesis", "us-east-1").add_auth(req)
print(json.dumps({"headers": list(req.headers.items()), "body": body}))
"#;

/// Signs a PutRecord with botocore; `None` when python3/botocore is missing
/// outside CI (under CI it must be there).
fn botocore_signed(akid: &str, secret: &str, token: &str) -> Option<Owned> {
    let available = std::process::Command::new("python3")
        .args(["-c", "import botocore.auth"])
        .output();
    if !available.as_ref().is_ok_and(|o| o.status.success()) {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "python3 with botocore is required under CI: {available:?}"
        );
        eprintln!("skipping: python3 with botocore unavailable: {available:?}");
        return None;
    }
    // Installed: from here on any failure is a test failure.
    let out = std::process::Command::new("python3")
        .args(["-c", BOTO_SIGN, akid, secret, token])
        .output()
        .unwrap();
    assert!(out.status.success(), "botocore signing failed: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut headers: Vec<(String, Vec<u8>)> = vec![("host".into(), HOST.as_bytes().to_vec())];
    for h in v["headers"].as_array().unwrap() {
        headers.push((
            h[0].as_str().unwrap().into(),
            h[1].as_str().unwrap().as_bytes().to_vec(),
        ));
    }
    Some(Owned {
        method: "POST".into(),
        path: "/".into(),
        query: None,
        headers,
        body: v["body"].as_str().unwrap().as_bytes().to_vec(),
    })
}

#[test]
fn botocore_signed_put_record_verifies() {
    let Some(req) = botocore_signed(AKID, SECRET, "") else {
        return;
    };
    let auth = req.header("authorization").unwrap();
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"),
        "{auth}"
    );
    let store = store();
    let ok = req
        .with(|r| verify(r, &kinesis_at(SystemTime::now()), &store))
        .unwrap();
    assert_eq!(ok.credential.access_key_id, AKID);
    assert!(!ok.presigned);

    let mut bad = req.clone();
    bad.body.push(b' ');
    expect_err(
        bad.with(|r| verify(r, &kinesis_at(SystemTime::now()), &store)),
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
    );
}

#[test]
fn botocore_signed_with_session_token_verifies() {
    let mut s = Store::default();
    s.0.insert(
        TEMP_AKID.into(),
        credential(
            TEMP_AKID,
            TEMP_SECRET,
            Some(TOKEN),
            Some(SystemTime::now() + Duration::from_secs(3600)),
        ),
    );
    let Some(req) = botocore_signed(TEMP_AKID, TEMP_SECRET, TOKEN) else {
        return;
    };
    assert_eq!(req.header("x-amz-security-token").as_deref(), Some(TOKEN));
    let ok = req
        .with(|r| verify(r, &kinesis_at(SystemTime::now()), &s))
        .unwrap();
    assert_eq!(ok.credential.access_key_id, TEMP_AKID);
}

// ---------------------------------------------------------------------------
// The `Date` header fallback (no X-Amz-Date)

/// Signs `req` by hand with the crate's own primitives, putting the
/// Authorization header last; the Date header carries the time.
fn sign_by_hand(mut req: Owned, signed_headers: &str, date_basic: &str) -> Owned {
    let scope = format!("{AKID}/{}/{REGION}/kinesis/aws4_request", &date_basic[..8]);
    let placeholder = format!(
        "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed_headers}, Signature=00"
    );
    req.set_header("Authorization", &placeholder);
    let canonical = req.with(canonicalize).unwrap();
    let sig = sign(
        SECRET,
        &date_basic[..8],
        REGION,
        "kinesis",
        &canonical.string_to_sign,
    )
    .unwrap();
    req.set_header(
        "Authorization",
        &placeholder.replace("Signature=00", &format!("Signature={sig}")),
    );
    req
}

#[test]
fn date_header_is_the_fallback_time_in_basic_or_http_format() {
    let base = Owned {
        method: "POST".into(),
        path: "/".into(),
        query: None,
        headers: vec![("host".into(), HOST.as_bytes().to_vec())],
        body: b"{}".to_vec(),
    };
    // 2026-03-01T10:20:30Z, as an HTTP date.
    let mut http_date = base.clone();
    http_date.set_header("Date", "Sun, 01 Mar 2026 10:20:30 GMT");
    let req = sign_by_hand(http_date, "date;host", "20260301T102030Z");
    let sts = req.with(canonicalize).unwrap().string_to_sign;
    assert!(
        sts.starts_with("AWS4-HMAC-SHA256\n20260301T102030Z\n"),
        "{sts}"
    );
    let ok = req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store()))
        .unwrap();
    assert_eq!(ok.signed_at, at(T0));
    // The Date header is still subject to the clock window.
    assert_eq!(
        req.with(|r| verify(r, &kinesis_at(at(T0 + 301)), &store()))
            .unwrap_err()
            .message(),
        format!(
            "Signature expired: 20260301T102030Z is now earlier than {} ({} - 5 min.)",
            basic(at(T0 + 1)),
            basic(at(T0 + 301))
        )
    );

    let mut basic_date = base.clone();
    basic_date.set_header("Date", "20260301T102030Z");
    let req = sign_by_hand(basic_date, "date;host", "20260301T102030Z");
    assert!(req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store()))
        .is_ok());

    // No date at all: riffle-protocol's shape error.
    let mut none = base.clone();
    none.set_header(
        "Authorization",
        &format!("AWS4-HMAC-SHA256 Credential={AKID}/20260301/{REGION}/kinesis/aws4_request, SignedHeaders=host, Signature=00"),
    );
    let auth = none.header("authorization").unwrap();
    expect_err(
        none.with(|r| verify(r, &kinesis_at(at(T0)), &store())),
        "IncompleteSignatureException",
        &format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"),
    );
}

#[test]
fn when_several_checks_fail_the_documented_order_decides() {
    let store = store();
    // Clock before key: an unknown key with a stale date hears about the date.
    let req = sdk(Signing {
        akid: "AKIANOTKNOWN00000000",
        ..Default::default()
    });
    let e = req
        .with(|r| verify(r, &kinesis_at(at(T0 + 360)), &store))
        .unwrap_err();
    assert!(e.message().starts_with("Signature expired: "), "{e}");
    // Scope before key.
    let req = sdk(Signing {
        akid: "AKIANOTKNOWN00000000",
        region: "eu-west-1",
        ..Default::default()
    });
    let e = req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store))
        .unwrap_err();
    assert_eq!(
        e.message(),
        "Credential should be scoped to a valid region, not 'eu-west-1'. "
    );
    // Region before service.
    let req = sdk(Signing {
        region: "eu-west-1",
        service: "firehose",
        ..Default::default()
    });
    let e = req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store))
        .unwrap_err();
    assert!(e.message().contains("valid region"), "{e}");
    // Unsigned x-amz-* header before scope.
    let mut req = sdk(Signing {
        region: "eu-west-1",
        ..Default::default()
    });
    req.headers.push(("x-amz-extra".into(), b"1".to_vec()));
    let e = req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store))
        .unwrap_err();
    assert!(e.message().starts_with("There were headers"), "{e}");
    // Key before signature.
    let mut req = sdk(Signing {
        akid: "AKIANOTKNOWN00000000",
        ..Default::default()
    });
    req.tamper_signature();
    let e = req
        .with(|r| verify(r, &kinesis_at(at(T0)), &store))
        .unwrap_err();
    assert_eq!(e.aws_type(), "UnrecognizedClientException");
    // Token expiry before signature.
    let later = at(T0 + 3600);
    let mut req = sdk(Signing {
        akid: TEMP_AKID,
        secret: TEMP_SECRET,
        token: Some(TOKEN),
        time: later,
        ..Default::default()
    });
    req.tamper_signature();
    let e = req
        .with(|r| verify(r, &kinesis_at(later), &store))
        .unwrap_err();
    assert_eq!(e.aws_type(), "ExpiredTokenException");
}
