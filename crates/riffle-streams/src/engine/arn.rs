//! Stream ARNs: building them and resolving `StreamName`/`StreamARN`/`ResourceARN` to a stream.

use super::*;

impl Engine {
    pub(super) fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{}",
            self.cfg.region, self.cfg.account_id, name
        )
    }

    /// Resolves `StreamName` / `StreamARN` to a stream name.
    pub(super) fn resolve_name(&self, r: &StreamRef) -> Result<String, StreamsError> {
        match (&r.name, &r.arn) {
            (Some(name), None) => Ok(name.clone()),
            (name, Some(arn)) => {
                let from_arn = self.name_from_arn(arn)?;
                if let Some(n) = name {
                    if *n != from_arn {
                        return Err(StreamsError::InvalidArgument(format!(
                            "StreamARN {arn} does not match StreamName {n}."
                        )));
                    }
                }
                Ok(from_arn)
            }
            (None, None) => Err(StreamsError::InvalidArgument(
                "Either StreamName or StreamARN should be provided.".into(),
            )),
        }
    }

    /// The stream name in a stream ARN of this region and account.
    pub(super) fn name_from_arn(&self, arn: &str) -> Result<String, StreamsError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let resource = parts.get(5).copied().unwrap_or("");
        let name = resource.strip_prefix("stream/").unwrap_or("");
        if parts.len() != 6
            || parts[0] != "arn"
            || parts[2] != "kinesis"
            || name.is_empty()
            || name.contains('/')
        {
            return Err(StreamsError::InvalidArgument(format!(
                "Invalid StreamARN {arn}."
            )));
        }
        if parts[3] != self.cfg.region || parts[4] != self.cfg.account_id {
            return Err(StreamsError::ResourceNotFound(format!(
                "Stream {name} under account {} not found.",
                parts[4]
            )));
        }
        Ok(name.to_string())
    }

    pub(super) fn resource(&self, arn: &str) -> Result<(String, Arc<LiveStream>), StreamsError> {
        let name = self.name_from_arn(arn).map_err(|e| match e {
            StreamsError::InvalidArgument(_) => StreamsError::InvalidArgument(format!(
                "Invalid ResourceARN {arn}: only stream ARNs of this region and account are supported."
            )),
            e => e,
        })?;
        let stream = self.lookup(&name)?;
        Ok((name, stream))
    }
}
