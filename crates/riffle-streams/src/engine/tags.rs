//! Stream tags, by name (AddTagsToStream...) and by ARN (TagResource...).

use super::*;

impl Engine {
    pub async fn add_tags(&self, input: AddTagsToStreamInput) -> Result<(), StreamsError> {
        self.admit_for(ratelimit::ADD_TAGS, &input.stream)?;
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.tag_stream(&name, &stream, input.tags)
    }

    pub(super) fn tag_stream(
        &self,
        name: &str,
        stream: &LiveStream,
        tags: BTreeMap<String, String>,
    ) -> Result<(), StreamsError> {
        validate_tags(&tags)?;
        self.update_meta(stream, |m| {
            if m.state == StreamState::Creating || m.state == StreamState::Deleting {
                self.require_active(name, m)?;
            }
            let mut merged = m.tags.clone();
            merged.extend(tags);
            if merged.len() > MAX_TAGS {
                return Err(StreamsError::InvalidArgument(format!(
                    "Failed to add tags to stream {name} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                    self.cfg.account_id
                )));
            }
            m.tags = merged;
            Ok(())
        })
    }

    pub async fn remove_tags(&self, input: RemoveTagsFromStreamInput) -> Result<(), StreamsError> {
        self.admit_for(ratelimit::REMOVE_TAGS, &input.stream)?;
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.untag_stream(&name, &stream, &input.tag_keys)
    }

    pub(super) fn untag_stream(
        &self,
        name: &str,
        stream: &LiveStream,
        keys: &[String],
    ) -> Result<(), StreamsError> {
        validate_tag_keys(keys)?;
        self.update_meta(stream, |m| {
            if m.state == StreamState::Creating || m.state == StreamState::Deleting {
                self.require_active(name, m)?;
            }
            for k in keys {
                m.tags.remove(k);
            }
            Ok(())
        })
    }

    pub async fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsForStreamOutput, StreamsError> {
        self.admit_for(ratelimit::LIST_TAGS, &input.stream)?;
        let (_, stream) = self.lookup_ref(&input.stream)?;
        let m = stream.view();
        let limit = input.limit.unwrap_or(50).clamp(1, 50) as usize;
        let mut iter = m
            .tags
            .iter()
            .filter(|(k, _)| {
                input
                    .exclusive_start_tag_key
                    .as_ref()
                    .is_none_or(|s| k.as_str() > s.as_str())
            })
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: v.clone(),
            });
        let tags: Vec<Tag> = iter.by_ref().take(limit).collect();
        Ok(ListTagsForStreamOutput {
            tags,
            has_more_tags: iter.next().is_some(),
        })
    }

    pub async fn tag_resource(&self, input: TagResourceInput) -> Result<(), StreamsError> {
        if arn::is_consumer_arn(&input.resource_arn) {
            return self.tag_consumer(&input.resource_arn, input.tags);
        }
        let (name, stream) = self.resource(&input.resource_arn)?;
        self.tag_stream(&name, &stream, input.tags)
    }

    pub async fn untag_resource(&self, input: UntagResourceInput) -> Result<(), StreamsError> {
        if arn::is_consumer_arn(&input.resource_arn) {
            return self.untag_consumer(&input.resource_arn, &input.tag_keys);
        }
        let (name, stream) = self.resource(&input.resource_arn)?;
        self.untag_stream(&name, &stream, &input.tag_keys)
    }

    pub async fn list_tags_for_resource(
        &self,
        input: ListTagsForResourceInput,
    ) -> Result<ListTagsForResourceOutput, StreamsError> {
        if arn::is_consumer_arn(&input.resource_arn) {
            return self.list_consumer_tags(&input.resource_arn);
        }
        let (_, stream) = self.resource(&input.resource_arn)?;
        let m = stream.view();
        Ok(ListTagsForResourceOutput {
            tags: m
                .tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        })
    }
}

/// AWS's tag alphabet: Unicode letters and digits, a plain space and
/// `_ . / = + - % @`. "White space" in AWS's message means the space
/// character only: a tab, newline or any other control character is refused
/// (`char::is_whitespace` would let them through).
pub(super) fn valid_tag_text(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || "_./=+-%@".contains(c))
}

pub(super) fn tag_chars_error() -> StreamsError {
    StreamsError::InvalidArgument(
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."
            .into(),
    )
}

pub(super) fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), StreamsError> {
    if tags
        .iter()
        .all(|(k, v)| valid_tag_text(k) && valid_tag_text(v))
    {
        Ok(())
    } else {
        Err(tag_chars_error())
    }
}

pub(super) fn validate_tag_keys(keys: &[String]) -> Result<(), StreamsError> {
    if keys.iter().all(|k| valid_tag_text(k)) {
        Ok(())
    } else {
        Err(tag_chars_error())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_tag_text;

    #[test]
    fn tag_text_allows_aws_alphabet_only() {
        assert!(valid_tag_text("Team name_1 ./=+-%@ é 日本 ٣"));
        for bad in [
            "a\tb",
            "a\nb",
            "a\rb",
            "\u{0}",
            "\u{7f}",
            "a\u{b}",
            "a\u{2028}b",
            "a#b",
            "a:b",
        ] {
            assert!(!valid_tag_text(bad), "{bad:?} should be refused");
        }
    }
}
