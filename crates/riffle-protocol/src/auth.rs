//! Step 9: SigV4 well-formedness checks (kinesalite `index.js`, verified
//! against AWS). Signatures are not verified.

use riffle_model::ApiError;

const HEADER_PARAMS: [&str; 3] = ["Credential", "Signature", "SignedHeaders"];
const QUERY_PARAMS: [&str; 5] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
];

pub fn check(
    authorization: Option<&str>,
    has_date_header: bool,
    query: Option<&str>,
) -> Result<(), ApiError> {
    // An empty header is as good as none (JavaScript truthiness).
    let header = authorization.filter(|h| !h.is_empty());
    let query = parse_query(query.unwrap_or(""));
    let query_auth = query.iter().any(|(k, _)| k == "X-Amz-Algorithm");

    if header.is_some() && query_auth {
        return Err(ApiError::new(
            "InvalidSignatureException",
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        ));
    }
    let mut msg = String::new();
    match header {
        None if !query_auth => {
            return Err(ApiError::new(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        }
        Some(h) => {
            // Split on single commas or spaces, skip the algorithm token, read k=v pairs.
            let params: Vec<(&str, Option<&str>)> = h
                .split([',', ' '])
                .skip(1)
                .filter(|t| !t.is_empty())
                .map(|t| {
                    let mut kv = t.trim().split('=');
                    (kv.next().unwrap_or(""), kv.next())
                })
                .collect();
            for p in HEADER_PARAMS {
                // A later duplicate overwrites an earlier one, as with a JS object.
                let value = params
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == p)
                    .and_then(|(_, v)| *v);
                if value.is_none_or(str::is_empty) {
                    msg.push_str(&format!("Authorization header requires '{p}' parameter. "));
                }
            }
            if !has_date_header {
                msg.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
            }
            if !msg.is_empty() {
                msg.push_str("Authorization=");
                msg.push_str(h);
            }
        }
        None => {
            for p in QUERY_PARAMS {
                let value = query
                    .iter()
                    .rev()
                    .find(|(k, _)| k == p)
                    .map(|(_, v)| v.as_str());
                if value.is_none_or(str::is_empty) {
                    msg.push_str(&format!("AWS query-string parameters must include '{p}'. "));
                }
            }
            if !msg.is_empty() {
                msg.push_str("Re-examine the query-string parameters.");
            }
        }
    }
    if msg.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new("IncompleteSignatureException", msg))
    }
}

/// `application/x-www-form-urlencoded` pairs, as Node's `querystring.parse` reads them.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<(), ApiError>) -> (String, String) {
        let e = r.expect_err("should fail");
        (e.code.to_string(), e.message.unwrap_or_default())
    }

    #[test]
    fn header_parsing_like_aws() {
        assert!(check(
            Some("AWS4-HMAC-SHA256 Credential=a/b/c/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"),
            true,
            None
        )
        .is_ok());
        for h in [
            "AWS4- Signature=b Credential=a",
            "AWS4- Signature=b,Credential=a",
            "AWS4- Signature=b, Credential=a",
        ] {
            assert_eq!(
                msg(check(Some(h), true, None)),
                (
                    "IncompleteSignatureException".into(),
                    format!("Authorization header requires 'SignedHeaders' parameter. Authorization={h}")
                )
            );
        }
        // The first token is taken as the algorithm, whatever it says.
        let (_, m) = msg(check(
            Some("Credential=a Signature=b SignedHeaders=c"),
            true,
            None,
        ));
        assert_eq!(m, "Authorization header requires 'Credential' parameter. Authorization=Credential=a Signature=b SignedHeaders=c");
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            msg(check(
                None,
                false,
                Some("X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-SignedHeaders=c&X-Amz-Date=d")
            ))
            .0,
            "MissingAuthenticationTokenException"
        );
        assert!(check(
            None,
            false,
            Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Signature=b&X-Amz-SignedHeaders=host&X-Amz-Date=d")
        )
        .is_ok());
        assert_eq!(
            msg(check(None, false, Some("X-Amz-Algorithm=x&X-Amz-Credential=&X-Amz-Signature=b&X-Amz-SignedHeaders=c&X-Amz-Date=d"))).1,
            "AWS query-string parameters must include 'X-Amz-Credential'. Re-examine the query-string parameters."
        );
        assert_eq!(decode("a%2Fb+c%zz%4"), "a/b c%zz%4");
    }
}
