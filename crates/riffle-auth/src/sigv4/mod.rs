//! SigV4 verification: is the signature right, and who signed.
//!
//! Runs after riffle-protocol's shape check (`auth.rs`), but repeats its
//! shape errors so it is safe on its own. The check order, the error each
//! check answers with and the choices made where AWS is unknown are in
//! `docs/security-sigv4.md`; [`Verifier::verify`] follows it step by step.

mod canonical;
mod error;
mod key;
mod parse;

use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

use crate::principal::{Credential, CredentialStore};
use canonical::PayloadHash;
use parse::{basic, Auth};

pub use error::{SigV4Error, SigV4ErrorKind, SIGNATURE_MISMATCH};
pub use key::signing_key;

/// Kinesis's clock-skew window.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
/// Signing keys cached by a [`Verifier::new`].
pub const DEFAULT_KEY_CACHE: usize = 4096;

/// The request as received. Nothing is decoded or normalized beforehand:
/// the verifier must see what the client signed.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The raw path as received (still percent-encoded).
    pub path: &'a str,
    /// The raw query, without `?`.
    pub query: Option<&'a str>,
    /// As received: any case, repeats allowed, in arrival order. HTTP/2's
    /// `:authority` may stand in for `host`.
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

/// What the endpoint expects of a signature.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    pub region: &'a str,
    /// The signing name: `kinesis`, `firehose`, `kinesisanalytics`.
    pub service: &'a str,
    pub now: SystemTime,
    /// [`DEFAULT_MAX_SKEW`] for Kinesis.
    pub max_skew: Duration,
}

impl<'a> Expect<'a> {
    /// Expectations with Kinesis's ±5 minute window.
    pub fn new(region: &'a str, service: &'a str, now: SystemTime) -> Expect<'a> {
        Expect {
            region,
            service,
            now,
            max_skew: DEFAULT_MAX_SKEW,
        }
    }
}

/// A request whose signature checked out.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The credential that signed (its principal is the caller).
    pub credential: Credential,
    /// Signed in the query string rather than the `Authorization` header.
    pub presigned: bool,
    /// The request's `X-Amz-Date` (or `Date`).
    pub signed_at: SystemTime,
    /// False when the body is not covered by the signature: the client
    /// signed `x-amz-content-sha256: UNSIGNED-PAYLOAD` (or another non-hash
    /// value), which the signature then vouches for instead of the body.
    pub payload_signed: bool,
}

/// The canonical request and string to sign the verifier computes for a
/// request, for tests, tooling and the optional error echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canonical {
    pub canonical_request: String,
    pub string_to_sign: String,
}

/// A verifier with a bounded cache of signing keys. Cheap to share
/// (`&self`); keep one per process.
pub struct Verifier {
    keys: key::KeyCache,
    echo_canonical: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier::with_capacity(DEFAULT_KEY_CACHE)
    }

    /// A verifier caching at most `capacity` signing keys.
    pub fn with_capacity(capacity: usize) -> Verifier {
        Verifier {
            keys: key::KeyCache::new(capacity),
            echo_canonical: false,
        }
    }

    /// Append the expected canonical request and string to sign to a
    /// signature-mismatch message, as Kinesis did in 2015–16. Off by
    /// default: it helps client authors and tells callers what was signed.
    pub fn echo_canonical(mut self, on: bool) -> Verifier {
        self.echo_canonical = on;
        self
    }

    /// Signing keys currently cached.
    pub fn cached_keys(&self) -> usize {
        self.keys.len()
    }

    /// Checks the request's signature; on success, who signed it.
    pub fn verify(
        &self,
        req: &SignedRequest<'_>,
        expect: &Expect<'_>,
        store: &dyn CredentialStore,
    ) -> Result<Verified, SigV4Error> {
        // 1. Shape: which form, all parts present, algorithm, date format,
        //    credential with five parts.
        let auth = parse::parse(req)?;
        // 2. Headers that must be signed.
        check_signed_headers(req, &auth)?;
        // 3. Scope against this endpoint, then against the request date.
        check_scope(&auth, expect)?;
        // 4. Clock (and the presign lifetime).
        check_time(&auth, expect)?;
        // 5. Who: the key, its session token, its expiry.
        let credential = lookup(&auth, expect, store)?;
        // 6. The signature itself, in constant time.
        let payload = canonical::payload_hash(req, &auth);
        let k = self.keys.get(
            &credential.access_key_id,
            &credential.secret_access_key,
            &auth.scope.date,
            &auth.scope.region,
            &auth.scope.service,
        )?;
        let mut skip: Vec<&str> = Vec::with_capacity(2);
        if auth.presigned {
            skip.push("X-Amz-Signature");
        }
        let mut outcome = check_signature(req, &auth, &skip, payload.as_str(), &k)?;
        if outcome.is_err() && auth.presigned && auth.token.is_some() {
            // Some signers append the session token after signing
            // (suite case post-sts-header-after); the token was still
            // validated in step 5.
            skip.push("X-Amz-Security-Token");
            if let ok @ Ok(()) = check_signature(req, &auth, &skip, payload.as_str(), &k)? {
                outcome = ok;
            }
        }
        if let Err(expected) = outcome {
            let mut err = SigV4Error::signature_mismatch();
            if self.echo_canonical {
                err.append(&format!(
                    "\n\nThe Canonical String for this request should have been\n'{}'\n\nThe String-to-Sign should have been\n'{}'\n",
                    expected.canonical_request, expected.string_to_sign
                ));
            }
            tracing::debug!(
                access_key_id = %credential.access_key_id,
                canonical_request = %expected.canonical_request,
                "SigV4 signature mismatch"
            );
            return Err(err);
        }
        // 7. A signed hex `x-amz-content-sha256` must be the body's hash.
        let payload_signed = match &payload {
            PayloadHash::Body(_) => true,
            PayloadHash::Declared(h) if is_sha256_hex(h) => {
                if !h.eq_ignore_ascii_case(&canonical::sha256_hex(req.body)) {
                    return Err(SigV4Error::invalid(
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    ));
                }
                true
            }
            PayloadHash::Declared(_) => false,
        };
        Ok(Verified {
            credential,
            presigned: auth.presigned,
            signed_at: auth.signed_at,
            payload_signed,
        })
    }
}

/// [`Verifier::verify`] with a throwaway key cache.
pub fn verify(
    req: &SignedRequest<'_>,
    expect: &Expect<'_>,
    store: &dyn CredentialStore,
) -> Result<Verified, SigV4Error> {
    Verifier::with_capacity(1).verify(req, expect, store)
}

/// The canonical request and string to sign of a signed request, as the
/// verifier computes them (the presigned form includes a query session
/// token). Only shape errors are possible.
pub fn canonicalize(req: &SignedRequest<'_>) -> Result<Canonical, SigV4Error> {
    let auth = parse::parse(req)?;
    let skip: &[&str] = if auth.presigned {
        &["X-Amz-Signature"]
    } else {
        &[]
    };
    let payload = canonical::payload_hash(req, &auth);
    Ok(build(req, &auth, skip, payload.as_str()))
}

/// The hex signature of a string to sign: what a client would send.
pub fn sign(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> Result<String, SigV4Error> {
    let k = signing_key(secret, date, region, service)?;
    Ok(hex::encode(key::hmac(&k, string_to_sign.as_bytes())?))
}

fn build(req: &SignedRequest<'_>, auth: &Auth, skip: &[&str], payload: &str) -> Canonical {
    let creq = canonical::canonical_request(req, auth, skip, payload);
    let sts = canonical::string_to_sign(auth, &creq);
    Canonical {
        canonical_request: String::from_utf8_lossy(&creq).into_owned(),
        string_to_sign: sts,
    }
}

/// `Ok(Ok(()))` on a match, `Ok(Err(expected))` on a mismatch.
fn check_signature(
    req: &SignedRequest<'_>,
    auth: &Auth,
    skip: &[&str],
    payload: &str,
    k: &[u8; 32],
) -> Result<Result<(), Canonical>, SigV4Error> {
    let creq = canonical::canonical_request(req, auth, skip, payload);
    let sts = canonical::string_to_sign(auth, &creq);
    let computed = hex::encode(key::hmac(k, sts.as_bytes())?);
    if bool::from(computed.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(Ok(()))
    } else {
        Ok(Err(Canonical {
            canonical_request: String::from_utf8_lossy(&creq).into_owned(),
            string_to_sign: sts,
        }))
    }
}

fn is_sha256_hex(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `host` (or `:authority`) must be signed, and so must every `x-amz-*`
/// header present, except `x-amz-security-token`, which some signers add
/// after signing (it is validated against the credential either way).
fn check_signed_headers(req: &SignedRequest<'_>, auth: &Auth) -> Result<(), SigV4Error> {
    if !auth.signs("host") && !auth.signs(":authority") {
        return Err(SigV4Error::incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let mut unsigned: Vec<String> = Vec::new();
    for (name, _) in req.headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("x-amz-")
            && lower != "x-amz-security-token"
            && !auth.signs(&lower)
            && !unsigned.contains(&lower)
        {
            unsigned.push(lower);
        }
    }
    if unsigned.is_empty() {
        Ok(())
    } else {
        Err(SigV4Error::invalid(format!(
            "There were headers present in the request which were not signed: {}",
            unsigned.join(", ")
        )))
    }
}

fn check_scope(auth: &Auth, expect: &Expect<'_>) -> Result<(), SigV4Error> {
    let s = &auth.scope;
    if s.terminator != "aws4_request" {
        return Err(SigV4Error::invalid(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            s.terminator
        )));
    }
    if s.region != expect.region {
        return Err(SigV4Error::invalid(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            s.region
        )));
    }
    if s.service != expect.service {
        return Err(SigV4Error::invalid(format!(
            "Credential should be scoped to correct service: '{}'. ",
            expect.service
        )));
    }
    let day = auth.amz_date.get(..8).unwrap_or_default();
    if s.date != day {
        return Err(SigV4Error::invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            s.date, day, auth.amz_date
        )));
    }
    Ok(())
}

/// The skew window both ways; a presigned request instead expires
/// `X-Amz-Expires` seconds after its date.
fn check_time(auth: &Auth, expect: &Expect<'_>) -> Result<(), SigV4Error> {
    let now = expect.now;
    let skew = expect.max_skew;
    let window = if skew.as_secs().is_multiple_of(60) {
        format!("{} min.", skew.as_secs() / 60)
    } else {
        format!("{} sec.", skew.as_secs())
    };
    let latest = now.checked_add(skew).unwrap_or(now);
    if auth.signed_at > latest {
        return Err(SigV4Error::invalid(format!(
            "Signature not yet current: {} is still later than {} ({} + {window})",
            auth.amz_date,
            basic(latest),
            basic(now)
        )));
    }
    match auth.expires {
        Some(expires) => {
            let earliest = now.checked_sub(expires).unwrap_or(SystemTime::UNIX_EPOCH);
            if auth.signed_at < earliest {
                return Err(SigV4Error::invalid(format!(
                    "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                    auth.amz_date,
                    basic(earliest),
                    basic(now),
                    expires.as_secs()
                )));
            }
        }
        None => {
            let earliest = now.checked_sub(skew).unwrap_or(SystemTime::UNIX_EPOCH);
            if auth.signed_at < earliest {
                return Err(SigV4Error::invalid(format!(
                    "Signature expired: {} is now earlier than {} ({} - {window})",
                    auth.amz_date,
                    basic(earliest),
                    basic(now)
                )));
            }
        }
    }
    Ok(())
}

/// The credential behind the access key, if the request's session token
/// (or its absence) matches it and it has not expired.
fn lookup(
    auth: &Auth,
    expect: &Expect<'_>,
    store: &dyn CredentialStore,
) -> Result<Credential, SigV4Error> {
    let credential = store
        .credential(&auth.scope.access_key_id)
        .ok_or_else(SigV4Error::unrecognized)?;
    let token_ok = match (&credential.session_token, &auth.token) {
        (None, None) => true,
        (Some(want), Some(got)) => bool::from(want.as_bytes().ct_eq(got.as_bytes())),
        // A long-term key with a token, or a temporary key without one.
        _ => false,
    };
    if !token_ok {
        return Err(SigV4Error::unrecognized());
    }
    if credential.expires.is_some_and(|at| at <= expect.now) {
        return Err(SigV4Error::expired_token());
    }
    Ok(credential)
}
