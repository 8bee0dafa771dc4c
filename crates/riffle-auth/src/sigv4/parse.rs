//! Reading the signature's parts out of the `Authorization` header or the
//! presigned query string, and the request timestamp.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use super::error::{SigV4Error, SigV4ErrorKind};
use super::SignedRequest;

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// SigV4's presign ceiling (S3's documented limit; the non-S3 one is unpublished).
pub(crate) const MAX_EXPIRES: u64 = 604_800;

/// The signature's parts, wherever they came from.
#[derive(Debug)]
pub(crate) struct Auth {
    pub presigned: bool,
    pub scope: Scope,
    /// `SignedHeaders`, verbatim.
    pub signed_headers: String,
    pub signature: String,
    /// The timestamp in basic format, as it enters the string to sign.
    pub amz_date: String,
    pub signed_at: SystemTime,
    /// `X-Amz-Expires` of a presigned request.
    pub expires: Option<Duration>,
    /// `X-Amz-Security-Token`, from the header or the query.
    pub token: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Scope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub terminator: String,
}

impl Auth {
    /// The lowercase names of `SignedHeaders`.
    pub fn signed_names(&self) -> impl Iterator<Item = String> + '_ {
        self.signed_headers
            .split(';')
            .filter(|n| !n.is_empty())
            .map(|n| n.to_ascii_lowercase())
    }

    pub fn signs(&self, name: &str) -> bool {
        self.signed_headers
            .split(';')
            .any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The first header of that name, as text (lossy: only used for auth fields).
pub(crate) fn header<'a>(req: &'a SignedRequest<'_>, name: &str) -> Option<Cow<'a, str>> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v))
}

/// Query pairs, form-decoded (`+` is a space), in arrival order.
pub(crate) fn query_pairs(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

pub(crate) fn form_decode(s: &str) -> Vec<u8> {
    let plus_free = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_free).collect()
}

/// Reads the auth parts; errors are the shape errors (`IncompleteSignature`,
/// date format, missing token).
pub(crate) fn parse(req: &SignedRequest<'_>) -> Result<Auth, SigV4Error> {
    let authorization = header(req, "authorization").filter(|h| !h.is_empty());
    let pairs = query_pairs(req.query.unwrap_or(""));
    let param = |name: &str| -> Option<String> {
        // A later duplicate wins, as in the shape check of riffle-protocol.
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let query_auth = param("X-Amz-Algorithm").is_some();
    match (authorization, query_auth) {
        (Some(_), true) => Err(SigV4Error::invalid(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        )),
        (None, false) => Err(SigV4Error::new(
            SigV4ErrorKind::MissingAuthenticationToken,
            "Missing Authentication Token",
        )),
        (Some(h), false) => parse_header(req, &h),
        (None, true) => parse_query(&param),
    }
}

fn parse_header(req: &SignedRequest<'_>, h: &str) -> Result<Auth, SigV4Error> {
    let (algorithm, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split([',', ' ']).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let amz_date = header(req, "x-amz-date");
    let date = amz_date.clone().or_else(|| header(req, "date"));
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        return Err(SigV4Error::incomplete(format!(
            "{missing}Authorization={h}"
        )));
    }
    check_algorithm(algorithm)?;
    let credential = credential.unwrap_or_default().to_string();
    let (amz_date, signed_at) = match (amz_date, date) {
        (Some(v), _) => parse_basic(&v)?,
        (None, Some(v)) => parse_http_date(&v)?,
        (None, None) => return Err(SigV4Error::incomplete("Missing date")),
    };
    Ok(Auth {
        presigned: false,
        scope: parse_scope(&credential)?,
        signed_headers: signed_headers.unwrap_or_default().to_string(),
        signature: signature.unwrap_or_default().to_string(),
        amz_date,
        signed_at,
        expires: None,
        token: header(req, "x-amz-security-token").map(Cow::into_owned),
    })
}

fn parse_query(param: &dyn Fn(&str) -> Option<String>) -> Result<Auth, SigV4Error> {
    let mut missing = String::new();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if param(name).is_none_or(|v| v.is_empty()) {
            missing.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    if !missing.is_empty() {
        return Err(SigV4Error::incomplete(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    }
    check_algorithm(&param("X-Amz-Algorithm").unwrap_or_default())?;
    let expires = match param("X-Amz-Expires") {
        None => None,
        Some(v) => {
            let secs: u64 = v
                .parse()
                .map_err(|_| SigV4Error::incomplete("X-Amz-Expires should be a number"))?;
            if secs > MAX_EXPIRES {
                return Err(SigV4Error::incomplete(format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}"
                )));
            }
            Some(Duration::from_secs(secs))
        }
    };
    let credential = param("X-Amz-Credential").unwrap_or_default();
    let (amz_date, signed_at) = parse_basic(&param("X-Amz-Date").unwrap_or_default())?;
    Ok(Auth {
        presigned: true,
        scope: parse_scope(&credential)?,
        signed_headers: param("X-Amz-SignedHeaders").unwrap_or_default(),
        signature: param("X-Amz-Signature").unwrap_or_default(),
        amz_date,
        signed_at,
        expires,
        token: param("X-Amz-Security-Token"),
    })
}

fn check_algorithm(algorithm: &str) -> Result<(), SigV4Error> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(SigV4Error::incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )))
    }
}

fn parse_scope(credential: &str) -> Result<Scope, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [akid, date, region, service, terminator] => Ok(Scope {
            access_key_id: akid.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            terminator: terminator.to_string(),
        }),
        _ => Err(SigV4Error::incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        ))),
    }
}

fn bad_date(v: &str) -> SigV4Error {
    SigV4Error::incomplete(format!(
        "Date must be in ISO-8601 'basic format'. Got '{v}'. See http://docs.aws.amazon.com/general/latest/gr/sigv4_elements.html"
    ))
}

/// `YYYYMMDDTHHMMSSZ`, strictly (it is signed as received).
pub(crate) fn parse_basic(v: &str) -> Result<(String, SystemTime), SigV4Error> {
    if v.len() != 16 || !v.is_ascii() {
        return Err(bad_date(v));
    }
    let t = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ").map_err(|_| bad_date(v))?;
    Ok((v.to_string(), t.and_utc().into()))
}

/// The `Date` header fallback: basic format, else an HTTP date (RFC 7231's
/// IMF-fixdate, read as RFC 2822); the string to sign uses its basic form.
fn parse_http_date(v: &str) -> Result<(String, SystemTime), SigV4Error> {
    if let Ok(parsed) = parse_basic(v) {
        return Ok(parsed);
    }
    let t = DateTime::parse_from_rfc2822(v)
        .map_err(|_| bad_date(v))?
        .with_timezone(&Utc);
    Ok((basic(t.into()), t.into()))
}

/// A time in basic format, as AWS prints it in its messages. Never panics
/// (chrono's `From<SystemTime>` would on out-of-range times).
pub(crate) fn basic(t: SystemTime) -> String {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn basic_dates_round_trip_and_bad_ones_are_refused() {
        let (text, t) = parse_basic("20150830T123600Z").unwrap();
        assert_eq!(text, "20150830T123600Z");
        assert_eq!(
            t,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
        );
        assert_eq!(basic(t), "20150830T123600Z");
        assert_eq!(basic(SystemTime::UNIX_EPOCH), "19700101T000000Z");
        for bad in [
            "",
            "20150830T123600",
            "20150830T123600ZZ",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150830T253600Z",
            "２0150830T12360Z",
        ] {
            let e = parse_basic(bad).unwrap_err();
            assert_eq!(e.aws_type(), "IncompleteSignatureException", "{bad}");
            assert!(e.message().contains(&format!("Got '{bad}'")), "{bad}");
        }
    }

    #[test]
    fn http_dates_are_signed_in_basic_form() {
        let (text, t) = parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").unwrap();
        assert_eq!(text, "20150830T123600Z");
        assert_eq!(t, parse_basic("20150830T123600Z").unwrap().1);
        assert!(parse_http_date("yesterday").is_err());
    }

    #[test]
    fn credential_must_have_five_parts() {
        let s = parse_scope("AK/20150830/us-east-1/kinesis/aws4_request").unwrap();
        assert_eq!(
            (
                &*s.access_key_id,
                &*s.date,
                &*s.region,
                &*s.service,
                &*s.terminator
            ),
            ("AK", "20150830", "us-east-1", "kinesis", "aws4_request")
        );
        let e = parse_scope("AK/20150830/us-east-1/kinesis").unwrap_err();
        assert_eq!(
            e.message(),
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AK/20150830/us-east-1/kinesis'"
        );
    }
}
