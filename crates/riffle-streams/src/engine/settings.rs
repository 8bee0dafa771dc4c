//! Capacity mode, warm throughput, account settings, enhanced monitoring,
//! encryption and resource policies: metadata-only operations.

use super::*;

const ALL_METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

const BILLING_COMMITMENT_KEY: &str = "account.minimum_throughput_billing_commitment";

impl Engine {
    /// Marks the stream UPDATING for the transition delay (or not at all when it is 0).
    fn updating(&self, m: &mut StreamMeta) {
        let (until_ms, immediate) = self.until();
        if !immediate {
            m.state = StreamState::Updating;
            m.until_ms = until_ms;
        }
    }

    pub async fn update_stream_mode(
        &self,
        input: UpdateStreamModeInput,
    ) -> Result<(), StreamsError> {
        let name = self.name_from_arn(&input.stream_arn)?;
        let stream = self.lookup(&name)?;
        let mode = match input.stream_mode {
            StreamMode::Provisioned => "PROVISIONED",
            StreamMode::OnDemand => "ON_DEMAND",
        };
        if mode == "ON_DEMAND" && stream.view().mode != "ON_DEMAND" {
            self.check_on_demand_stream_limit()?;
        }
        self.update_active(&name, &stream, |m| {
            if m.mode == mode {
                return Err(StreamsError::InvalidArgument(format!(
                    "Stream {name} under account {} is already in {mode} mode.",
                    self.cfg.account_id
                )));
            }
            let now = self.now_ms();
            let day_ago = now - 24 * 3_600_000;
            m.mode_updates.retain(|t| *t > day_ago);
            if m.mode_updates.len() >= 2 {
                return Err(StreamsError::LimitExceeded(format!(
                    "The capacity mode of stream {name} under account {} has already been switched twice in the last 24 hours.",
                    self.cfg.account_id
                )));
            }
            m.mode_updates.push(now);
            m.mode = mode.to_string();
            if let Some(w) = input.warm_throughput_mibps {
                m.warm_throughput_mibps = Some(w);
            }
            self.updating(m);
            Ok(())
        })
    }

    pub async fn update_stream_warm_throughput(
        &self,
        input: UpdateStreamWarmThroughputInput,
    ) -> Result<UpdateStreamWarmThroughputOutput, StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        let target = input.warm_throughput_mibps;
        self.update_active(&name, &stream, |m| {
            if m.mode != "ON_DEMAND" {
                return Err(StreamsError::InvalidArgument(format!(
                    "Warm throughput can only be set on ON_DEMAND streams; stream {name} under account {} is PROVISIONED.",
                    self.cfg.account_id
                )));
            }
            m.warm_throughput_mibps = Some(target);
            self.updating(m);
            Ok(())
        })?;
        Ok(UpdateStreamWarmThroughputOutput {
            stream_arn: self.arn(&name),
            stream_name: name,
            warm_throughput: WarmThroughput {
                target_mibps: Some(target),
                current_mibps: Some(target),
            },
        })
    }

    pub async fn describe_account_settings(&self) -> Result<AccountSettingsOutput, StreamsError> {
        Ok(AccountSettingsOutput {
            minimum_throughput_billing_commitment: Some(self.billing_commitment()?),
        })
    }

    fn billing_commitment(&self) -> Result<MinimumThroughputBillingCommitment, StreamsError> {
        // Stored as "STATUS started ended earliest_end" (ms; 0 = unset).
        let raw = self
            .meta
            .get_setting(BILLING_COMMITMENT_KEY)?
            .unwrap_or_default();
        let mut parts = raw.split_whitespace();
        let status = parts.next().unwrap_or("DISABLED").to_string();
        let mut ts = || {
            parts
                .next()
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| *v > 0)
                .map(Timestamp)
        };
        let (started_at, ended_at, earliest_allowed_end_at) = (ts(), ts(), ts());
        let now = self.now_ms();
        let status = match (status.as_str(), earliest_allowed_end_at) {
            ("ENABLED_UNTIL_EARLIEST_ALLOWED_END", Some(t)) if t.0 <= now => "DISABLED".to_string(),
            _ => status,
        };
        Ok(MinimumThroughputBillingCommitment {
            status,
            started_at,
            ended_at,
            earliest_allowed_end_at,
        })
    }

    pub async fn update_account_settings(
        &self,
        input: UpdateAccountSettingsInput,
    ) -> Result<AccountSettingsOutput, StreamsError> {
        let now = self.now_ms();
        let current = self.billing_commitment()?;
        let ms = |t: Option<Timestamp>| t.map(|t| t.0).unwrap_or(0);
        let stored = match input.minimum_throughput_billing_commitment_status.as_str() {
            "ENABLED" if current.status == "ENABLED" => None,
            // A commitment lasts at least 24 hours once enabled.
            "ENABLED" => Some(format!("ENABLED {now} 0 {}", now + 24 * 3_600_000)),
            _ if current.status != "ENABLED" => None,
            _ => {
                let earliest = ms(current.earliest_allowed_end_at);
                if earliest > now {
                    Some(format!(
                        "ENABLED_UNTIL_EARLIEST_ALLOWED_END {} {earliest} {earliest}",
                        ms(current.started_at)
                    ))
                } else {
                    Some(format!("DISABLED {} {now} 0", ms(current.started_at)))
                }
            }
        };
        if let Some(v) = stored {
            self.meta.put_setting(BILLING_COMMITMENT_KEY, &v)?;
        }
        self.describe_account_settings().await
    }

    pub async fn enable_enhanced_monitoring(
        &self,
        input: EnhancedMonitoringInput,
    ) -> Result<EnhancedMonitoringOutput, StreamsError> {
        self.admit_for(ratelimit::ENABLE_MONITORING, &input.stream)?;
        self.change_metrics(input, true)
    }

    pub async fn disable_enhanced_monitoring(
        &self,
        input: EnhancedMonitoringInput,
    ) -> Result<EnhancedMonitoringOutput, StreamsError> {
        self.admit_for(ratelimit::DISABLE_MONITORING, &input.stream)?;
        self.change_metrics(input, false)
    }

    fn change_metrics(
        &self,
        input: EnhancedMonitoringInput,
        enable: bool,
    ) -> Result<EnhancedMonitoringOutput, StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        let wanted: Vec<&str> = if input.shard_level_metrics.iter().any(|m| m == "ALL") {
            ALL_METRICS.to_vec()
        } else {
            input
                .shard_level_metrics
                .iter()
                .map(String::as_str)
                .collect()
        };
        let (before, after) = self.update_active(&name, &stream, |m| {
            let before = m.shard_level_metrics.clone();
            let mut set: Vec<String> = before.clone();
            if enable {
                for w in &wanted {
                    if !set.iter().any(|s| s == w) {
                        set.push(w.to_string());
                    }
                }
            } else {
                set.retain(|s| !wanted.contains(&s.as_str()));
            }
            // Keep AWS's canonical order.
            set.sort_by_key(|s| {
                ALL_METRICS
                    .iter()
                    .position(|a| a == s)
                    .unwrap_or(usize::MAX)
            });
            m.shard_level_metrics = set.clone();
            Ok((before, set))
        })?;
        Ok(EnhancedMonitoringOutput {
            stream_arn: self.arn(&name),
            stream_name: name,
            current_shard_level_metrics: before,
            desired_shard_level_metrics: after,
        })
    }

    pub async fn start_stream_encryption(
        &self,
        input: StreamEncryptionInput,
    ) -> Result<(), StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        if input.encryption_type != "KMS" {
            return Err(StreamsError::InvalidArgument(format!(
                "Encryption type {} is not valid for StartStreamEncryption; use KMS.",
                input.encryption_type
            )));
        }
        self.require_active(&name, &stream.view())?;
        // KMS GenerateDataKey: resolves the key in any of its four forms and
        // refuses a missing, disabled or pending-deletion one.
        let keyring = self.keyring.clone();
        let key_id = input.key_id.clone();
        let (data_key, wrapped) = off_worker(move || keyring.generate_data_key(&key_id))?;
        let now = self.now_ms();
        // The key is installed before the metadata naming it commits and made
        // active only after: no batch is ever sealed with an unpersisted key.
        let mut data_key = Some(data_key);
        let index = self.update_active(&name, &stream, |m| {
            let index = u16::try_from(m.data_keys.len()).map_err(|_| {
                StreamsError::LimitExceeded(format!(
                    "Stream {name} under account {} has used all of its data keys.",
                    self.cfg.account_id
                ))
            })?;
            if let Some(k) = data_key.take() {
                stream.keys.install(index, k);
            }
            m.data_keys.push(riffle_meta::StreamDataKey {
                key_arn: wrapped.key_arn.clone(),
                wrapped: wrapped.ciphertext.clone(),
                since_ms: now,
            });
            m.encryption_key = Some(input.key_id.clone());
            self.updating(m);
            Ok(index)
        })?;
        Self::sync_active_key(&stream);
        tracing::info!(
            stream = name,
            key = wrapped.key_arn,
            index,
            "stream encryption started"
        );
        Ok(())
    }

    pub async fn stop_stream_encryption(
        &self,
        input: StreamEncryptionInput,
    ) -> Result<(), StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.update_active(&name, &stream, |m| {
            m.encryption_key = None;
            self.updating(m);
            Ok(())
        })?;
        // The data keys stay in the metadata: records sealed with them stay readable.
        Self::sync_active_key(&stream);
        tracing::info!(stream = name, "stream encryption stopped");
        Ok(())
    }

    /// Points new batches at the key the committed metadata names (the newest
    /// data key while encrypted, none otherwise). Under the stream's writer
    /// lock, so two racing Start/Stop calls leave the last committed state.
    fn sync_active_key(stream: &LiveStream) {
        let _serialised = stream.write.lock();
        let v = stream.view();
        let active = v
            .encryption_key
            .as_ref()
            .and_then(|_| v.data_keys.len().checked_sub(1))
            .and_then(|i| u16::try_from(i).ok());
        stream.keys.set_active(active);
    }

    pub async fn put_resource_policy(
        &self,
        input: PutResourcePolicyInput,
    ) -> Result<(), StreamsError> {
        if serde_json::from_str::<serde_json::Value>(&input.policy)
            .map(|v| !v.is_object())
            .unwrap_or(true)
        {
            return Err(StreamsError::InvalidArgument(
                "Policy is not a valid JSON policy document.".into(),
            ));
        }
        let policy = Some(input.policy);
        if arn::is_consumer_arn(&input.resource_arn) {
            let found = self.consumer_by_arn(&input.resource_arn)?;
            return self.update_consumer(&found, |c| {
                c.resource_policy = policy;
                Ok(())
            });
        }
        let (_, stream) = self.resource(&input.resource_arn)?;
        self.update_meta(&stream, |m| {
            m.resource_policy = policy;
            Ok(())
        })
    }

    pub async fn get_resource_policy(
        &self,
        input: ResourceArnInput,
    ) -> Result<GetResourcePolicyOutput, StreamsError> {
        let policy = if arn::is_consumer_arn(&input.resource_arn) {
            self.consumer_by_arn(&input.resource_arn)?
                .consumer
                .resource_policy
        } else {
            self.resource(&input.resource_arn)?
                .1
                .view()
                .resource_policy
                .clone()
        };
        // AWS answers an existing resource without a policy with the empty
        // policy document, not an error (responses recorded against AWS).
        Ok(GetResourcePolicyOutput {
            policy: policy.unwrap_or_else(|| EMPTY_POLICY.to_string()),
        })
    }

    pub async fn delete_resource_policy(
        &self,
        input: ResourceArnInput,
    ) -> Result<(), StreamsError> {
        let had = if arn::is_consumer_arn(&input.resource_arn) {
            let found = self.consumer_by_arn(&input.resource_arn)?;
            self.update_consumer(&found, |c| Ok(c.resource_policy.take().is_some()))?
        } else {
            let (_, stream) = self.resource(&input.resource_arn)?;
            self.update_meta(&stream, |m| Ok(m.resource_policy.take().is_some()))?
        };
        if had {
            Ok(())
        } else {
            Err(no_policy(&input.resource_arn))
        }
    }
}

/// What GetResourcePolicy returns for a stream or consumer with no policy.
const EMPTY_POLICY: &str = "{}";

fn no_policy(arn: &str) -> StreamsError {
    StreamsError::ResourceNotFound(format!("No resource policy exists for {arn}"))
}
