//! Pagination tokens: ListStreams/ListStreamConsumers NextToken and ListShards NextToken.
//! Base64 text with a CRC32C, so a tampered or truncated token is refused.

use super::*;

pub(super) fn filter_code(t: ShardFilterType) -> u8 {
    match t {
        ShardFilterType::AfterShardId => 0,
        ShardFilterType::AtTrimHorizon => 1,
        ShardFilterType::FromTrimHorizon => 2,
        ShardFilterType::AtLatest => 3,
        ShardFilterType::AtTimestamp => 4,
        ShardFilterType::FromTimestamp => 5,
    }
}

/// ListStreams pagination: the last name returned and when the token was issued.
pub(super) struct PageToken {
    pub(super) after: String,
    pub(super) issued_ms: i64,
}

impl PageToken {
    /// Decodes a NextToken and checks it has not outlived its 300 seconds.
    pub(super) fn decode_fresh(tok: &str, now: i64) -> Result<PageToken, StreamsError> {
        let t = PageToken::decode(tok)
            .ok_or_else(|| StreamsError::InvalidArgument(format!("Invalid NextToken: {tok}")))?;
        if now - t.issued_ms > TOKEN_LIFETIME_MS {
            return Err(StreamsError::ExpiredNextToken(format!(
                "The NextToken has expired: {tok}"
            )));
        }
        Ok(t)
    }

    pub(super) fn encode(&self) -> String {
        token_encode(&format!("{}\n{}", self.issued_ms, self.after))
    }
    pub(super) fn decode(s: &str) -> Option<PageToken> {
        let text = token_decode(s)?;
        let (t, after) = text.split_once('\n')?;
        Some(PageToken {
            after: after.to_string(),
            issued_ms: t.parse().ok()?,
        })
    }
}

/// ListShards pagination: the stream, the last shard returned, the page size and the filter.
pub(super) struct ShardPageToken {
    pub(super) stream: String,
    pub(super) after: u32,
    pub(super) max_results: i64,
    pub(super) issued_ms: i64,
    pub(super) filter: Option<(u8, Option<String>, Option<i64>)>,
}

impl ShardPageToken {
    pub(super) fn encode(&self) -> String {
        let (code, sid, ts) = match &self.filter {
            Some((c, s, t)) => (
                c.to_string(),
                s.clone().unwrap_or_default(),
                t.map(|t| t.to_string()).unwrap_or_default(),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        token_encode(&format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.issued_ms, self.after, self.max_results, code, sid, ts, self.stream
        ))
    }
    pub(super) fn decode(s: &str) -> Option<ShardPageToken> {
        let text = token_decode(s)?;
        let mut it = text.splitn(7, '\n');
        let issued_ms = it.next()?.parse().ok()?;
        let after = it.next()?.parse().ok()?;
        let max_results = it.next()?.parse().ok()?;
        let code = it.next()?;
        let sid = it.next()?;
        let ts = it.next()?;
        let stream = it.next()?.to_string();
        let filter = if code.is_empty() {
            None
        } else {
            Some((
                code.parse().ok()?,
                (!sid.is_empty()).then(|| sid.to_string()),
                if ts.is_empty() {
                    None
                } else {
                    Some(ts.parse().ok()?)
                },
            ))
        };
        Some(ShardPageToken {
            stream,
            after,
            max_results,
            issued_ms,
            filter,
        })
    }
    pub(super) fn filter(&self) -> Option<ShardFilterInput> {
        let (code, sid, ts) = self.filter.clone()?;
        let filter_type = match code {
            0 => ShardFilterType::AfterShardId,
            1 => ShardFilterType::AtTrimHorizon,
            2 => ShardFilterType::FromTrimHorizon,
            3 => ShardFilterType::AtLatest,
            4 => ShardFilterType::AtTimestamp,
            _ => ShardFilterType::FromTimestamp,
        };
        Some(ShardFilterInput {
            filter_type,
            shard_id: sid,
            timestamp: ts.map(Timestamp),
        })
    }
}

pub(super) fn token_encode(text: &str) -> String {
    use base64::Engine as _;
    let mut b = text.as_bytes().to_vec();
    b.extend_from_slice(&crc32c::crc32c(text.as_bytes()).to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(super) fn token_decode(s: &str) -> Option<String> {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    if b.len() < 4 {
        return None;
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = PageToken {
            after: "a\nb".into(),
            issued_ms: 5,
        };
        let d = PageToken::decode(&t.encode()).unwrap();
        assert_eq!((d.after.as_str(), d.issued_ms), ("a\nb", 5));
        let s = ShardPageToken {
            stream: "s".into(),
            after: 3,
            max_results: 2,
            issued_ms: 9,
            filter: Some((4, None, Some(7))),
        };
        let d = ShardPageToken::decode(&s.encode()).unwrap();
        assert_eq!(
            (d.stream.as_str(), d.after, d.max_results, d.issued_ms),
            ("s", 3, 2, 9)
        );
        assert_eq!(d.filter, Some((4, None, Some(7))));
        assert!(PageToken::decode("garbage!").is_none());
    }
}
