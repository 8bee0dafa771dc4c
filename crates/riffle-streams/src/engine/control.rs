//! Control plane: create, delete, describe and list streams and shards;
//! retention, record size and account limits.

use super::*;

impl Engine {
    pub async fn create_stream(&self, input: CreateStreamInput) -> Result<(), StreamsError> {
        let name = input.stream_name;
        self.admit_control(ratelimit::CREATE_STREAM, Some(&name), None)?;
        let mode = input.stream_mode.unwrap_or(StreamMode::Provisioned);
        let shard_count = match (mode, input.shard_count) {
            (_, Some(n)) => n,
            (StreamMode::OnDemand, None) => 4,
            (StreamMode::Provisioned, None) => {
                return Err(StreamsError::InvalidArgument(
                    "ShardCount is required for streams in PROVISIONED mode.".into(),
                ))
            }
        };
        if let Some(tags) = &input.tags {
            validate_tags(tags)?;
            if tags.len() > MAX_TAGS {
                return Err(StreamsError::InvalidArgument(format!(
                    "Failed to add tags to stream {name} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                    self.cfg.account_id
                )));
            }
        }
        if self.streams.read().contains_key(&name) {
            return Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} already exists.",
                self.cfg.account_id
            )));
        }
        let current = self.open_shard_count();
        if current + shard_count > self.cfg.shard_limit {
            return Err(StreamsError::LimitExceeded(format!(
                "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {}. Limit: {}. Number of additional shards that would have resulted from this request: {}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
                self.cfg.account_id, self.cfg.region, current, self.cfg.shard_limit, shard_count
            )));
        }
        if mode == StreamMode::OnDemand {
            self.check_on_demand_stream_limit()?;
        }
        let now = self.now_ms();
        // Whole seconds: the creation second is encoded in every sequence number.
        let created_ms = now - now % 1000;
        let shards = even_ranges(shard_count as u32)
            .into_iter()
            .enumerate()
            .map(|(i, (start, end))| ShardMeta {
                index: i as u32,
                starting_hash_key: start.to_string(),
                ending_hash_key: end.to_string(),
                created_ms,
                parent: None,
                adjacent_parent: None,
                closed_ms: None,
                end_offset: None,
                seq_after_parents: false,
            })
            .collect::<Vec<_>>();
        let (until_ms, immediate) = self.until();
        let meta = StreamMeta {
            name: name.clone(),
            uid: format!("{}-{}", name, uuid::Uuid::new_v4().simple()),
            created_ms,
            state: if immediate {
                StreamState::Active
            } else {
                StreamState::Creating
            },
            until_ms,
            retention_hours: 24,
            mode: match mode {
                StreamMode::Provisioned => "PROVISIONED".into(),
                StreamMode::OnDemand => "ON_DEMAND".into(),
            },
            max_record_size_kib: input.max_record_size_kib.unwrap_or(1024) as u32,
            next_shard_index: shards.len() as u32,
            shards,
            tags: input.tags.unwrap_or_default(),
            encryption_key: None,
            data_keys: Vec::new(),
            shard_level_metrics: vec![],
            warm_throughput_mibps: input.warm_throughput_mibps,
            consumers: vec![],
            resource_policy: None,
            pending_reshard: None,
            shard_count_updates: vec![],
            mode_updates: vec![],
        };
        // Shard directories first, metadata second: a crash in between leaves
        // only an orphan directory, which the next start removes. Opening
        // thousands of logs and the commit run on the blocking pool, holding
        // no lock, and publish the stream there: it is complete even if this
        // request is dropped.
        let (cfg, dir) = (self.cfg.log.clone(), self.stream_dir(&meta.uid));
        let (store, streams) = (self.meta.clone(), self.streams.clone());
        let keyring = self.keyring.clone();
        let created = blocking(move || {
            let stream = open_stream_at(&cfg, &keyring, dir, meta.clone())?;
            sync_new_stream_dir(&stream.dir)?;
            // The store refuses a name it holds; any stream left in the map under
            // this name has had its deletion committed, so replacing it is right.
            if !store.create_stream(&meta)? {
                remove_stream_dir(&stream.dir);
                return Ok(false);
            }
            streams.write().insert(meta.name.clone(), stream);
            Ok(true)
        })
        .await?;
        if !created {
            return Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} already exists.",
                self.cfg.account_id
            )));
        }
        tracing::info!(stream = name, shards = shard_count, "stream created");
        Ok(())
    }

    pub async fn delete_stream(&self, input: DeleteStreamInput) -> Result<(), StreamsError> {
        self.admit_for(ratelimit::DELETE_STREAM, &input.stream)?;
        let (name, stream) = self.lookup_ref(&input.stream)?;
        if !input.enforce_consumer_deletion && !stream.view().consumers.is_empty() {
            return Err(StreamsError::ResourceInUse(format!(
                "Consumers exist in stream {name} and enforceConsumerDeletion is either not set or is false"
            )));
        }
        let (until_ms, immediate) = self.until();
        if immediate {
            // The commit and the directory tree's removal, on the blocking pool.
            let (store, streams) = (self.meta.clone(), self.streams.clone());
            return blocking(move || {
                let dir = delete_committed(&*store, &streams, &name, &stream)?;
                remove_stream_dir(&dir);
                Ok(())
            })
            .await;
        }
        self.update_meta(&stream, |m| {
            if m.state == StreamState::Creating {
                // A stream deleted before it became ACTIVE never had shards as
                // far as AWS is concerned: it describes as DELETING with
                // `Shards: []` until it is gone. Their logs go with the stream.
                m.shards.clear();
            }
            m.state = StreamState::Deleting;
            m.until_ms = until_ms;
            Ok(())
        })
    }

    pub(super) fn status(m: &StreamMeta) -> StreamStatus {
        match m.state {
            StreamState::Creating => StreamStatus::Creating,
            StreamState::Active => StreamStatus::Active,
            StreamState::Updating => StreamStatus::Updating,
            StreamState::Deleting => StreamStatus::Deleting,
        }
    }

    pub(super) fn mode(m: &StreamMeta) -> StreamModeDetails {
        StreamModeDetails {
            stream_mode: StreamMode::parse(&m.mode).unwrap_or_default(),
        }
    }

    pub(super) fn shard_shape(&self, s: &ShardMeta) -> Shard {
        Shard {
            shard_id: shard_id(s.index),
            parent_shard_id: s.parent.map(shard_id),
            adjacent_parent_shard_id: s.adjacent_parent.map(shard_id),
            hash_key_range: HashKeyRange {
                starting_hash_key: s.starting_hash_key.clone(),
                ending_hash_key: s.ending_hash_key.clone(),
            },
            sequence_number_range: SequenceNumberRange {
                starting_sequence_number: seqnum::encode(SeqParts {
                    shard_create_secs: create_secs(s),
                    shard_index: s.index,
                    seq_index: 0,
                    record_secs: create_secs(s),
                }),
                ending_sequence_number: s.closed_ms.map(|closed| {
                    seqnum::encode(SeqParts {
                        shard_create_secs: create_secs(s),
                        shard_index: s.index,
                        seq_index: MAX_SEQ_INDEX,
                        record_secs: secs(closed),
                    })
                }),
            },
        }
    }

    pub(super) fn enhanced(m: &StreamMeta) -> Vec<EnhancedMetrics> {
        vec![EnhancedMetrics {
            shard_level_metrics: m.shard_level_metrics.clone(),
        }]
    }

    /// Shards not yet expired: closed shards whose records are all past retention are gone.
    pub(super) fn visible_shards<'a>(
        &self,
        m: &'a StreamMeta,
    ) -> impl Iterator<Item = &'a ShardMeta> {
        let cutoff = self.now_ms() - i64::from(m.retention_hours) * 3_600_000;
        m.shards
            .iter()
            .filter(move |s| s.closed_ms.is_none_or(|c| c >= cutoff))
    }

    pub async fn describe_stream(
        &self,
        input: DescribeStreamInput,
    ) -> Result<DescribeStreamOutput, StreamsError> {
        self.admit_for(ratelimit::DESCRIBE_STREAM, &input.stream)?;
        let (_, stream) = self.lookup_ref(&input.stream)?;
        let m = stream.view();
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let mut shards: Vec<Shard> = Vec::new();
        let mut has_more = false;
        if m.state != StreamState::Creating {
            let after = input
                .exclusive_start_shard_id
                .as_deref()
                .and_then(parse_shard_id);
            let mut iter = self
                .visible_shards(&m)
                .filter(|s| after.is_none_or(|a| s.index > a))
                .map(|s| self.shard_shape(s));
            shards.extend(iter.by_ref().take(limit));
            has_more = iter.next().is_some();
        }
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_name: m.name.clone(),
                stream_arn: self.arn(&m.name),
                stream_status: Self::status(&m),
                stream_mode_details: Self::mode(&m),
                shards,
                has_more_shards: has_more,
                retention_period_hours: i64::from(m.retention_hours),
                stream_creation_timestamp: Timestamp(m.created_ms),
                enhanced_monitoring: Self::enhanced(&m),
                encryption_type: Self::encryption_type(&m),
                key_id: m.encryption_key.clone(),
            },
        })
    }

    /// One more on-demand stream must stay within the account's limit.
    pub(super) fn check_on_demand_stream_limit(&self) -> Result<(), StreamsError> {
        let on_demand = self
            .streams
            .read()
            .values()
            .filter(|s| s.view().mode == "ON_DEMAND")
            .count() as i64;
        if on_demand >= self.cfg.on_demand_stream_limit {
            return Err(StreamsError::LimitExceeded(format!(
                "This request would exceed the on-demand stream limit for the account {} in {}. Limit: {}.",
                self.cfg.account_id, self.cfg.region, self.cfg.on_demand_stream_limit
            )));
        }
        Ok(())
    }

    /// `KMS` once StartStreamEncryption was called, else `NONE`.
    fn encryption_type(m: &StreamMeta) -> String {
        if m.encryption_key.is_some() {
            "KMS"
        } else {
            "NONE"
        }
        .into()
    }

    pub async fn describe_stream_summary(
        &self,
        input: DescribeStreamSummaryInput,
    ) -> Result<DescribeStreamSummaryOutput, StreamsError> {
        self.admit_for(ratelimit::DESCRIBE_STREAM_SUMMARY, &input.stream)?;
        let (_, stream) = self.lookup_ref(&input.stream)?;
        let m = stream.view();
        let open = if m.state == StreamState::Creating {
            0
        } else {
            m.shards.iter().filter(|s| is_open(s)).count()
        };
        Ok(DescribeStreamSummaryOutput {
            stream_description_summary: StreamDescriptionSummary {
                stream_name: m.name.clone(),
                stream_arn: self.arn(&m.name),
                stream_status: Self::status(&m),
                stream_mode_details: Self::mode(&m),
                retention_period_hours: i64::from(m.retention_hours),
                stream_creation_timestamp: Timestamp(m.created_ms),
                enhanced_monitoring: Self::enhanced(&m),
                encryption_type: Self::encryption_type(&m),
                key_id: m.encryption_key.clone(),
                open_shard_count: open as i64,
                consumer_count: m.consumers.len() as i64,
                warm_throughput: m.warm_throughput_mibps.map(|t| WarmThroughput {
                    target_mibps: Some(t),
                    current_mibps: Some(t),
                }),
                max_record_size_kib: i64::from(m.max_record_size_kib),
            },
        })
    }

    pub async fn list_streams(
        &self,
        input: ListStreamsInput,
    ) -> Result<ListStreamsOutput, StreamsError> {
        self.admit_control(ratelimit::LIST_STREAMS, None, None)?;
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let now = self.now_ms();
        let after = match &input.next_token {
            Some(tok) => {
                let t = PageToken::open_fresh(&self.tokens, tok, now)?;
                Some(t.after)
            }
            None => input.exclusive_start_stream_name.clone(),
        };
        self.settle_all();
        let streams: Vec<Arc<StreamView>> = self
            .streams
            .read()
            .iter()
            .filter(|(n, _)| after.as_ref().is_none_or(|a| n.as_str() > a.as_str()))
            .map(|(_, s)| s.view())
            .collect();
        let has_more = streams.len() > limit;
        let page = &streams[..streams.len().min(limit)];
        let next_token = match (has_more, page.last()) {
            (true, Some(m)) => Some(
                PageToken {
                    after: m.name.clone(),
                    issued_ms: now,
                }
                .seal(&self.tokens)?,
            ),
            _ => None,
        };
        Ok(ListStreamsOutput {
            stream_names: page.iter().map(|m| m.name.clone()).collect(),
            has_more_streams: has_more,
            next_token,
            stream_summaries: page
                .iter()
                .map(|m| StreamSummary {
                    stream_name: m.name.clone(),
                    stream_arn: self.arn(&m.name),
                    stream_status: Self::status(m),
                    stream_mode_details: Self::mode(m),
                    stream_creation_timestamp: Timestamp(m.created_ms),
                })
                .collect(),
        })
    }

    pub async fn list_shards(
        &self,
        input: ListShardsInput,
    ) -> Result<ListShardsOutput, StreamsError> {
        let now = self.now_ms();
        let has_stream = input.stream.name.is_some() || input.stream.arn.is_some();
        let (name, token_uid, after, filter, max_results) = match &input.next_token {
            Some(tok) => {
                if has_stream {
                    return Err(StreamsError::InvalidArgument(
                        "NextToken and StreamName cannot be provided together.".into(),
                    ));
                }
                let t = ShardPageToken::open(&self.tokens, tok).ok_or_else(|| {
                    StreamsError::InvalidArgument(format!("Invalid ShardPageToken: {tok}"))
                })?;
                if tokens::expired(t.issued_ms, now) {
                    return Err(StreamsError::ExpiredNextToken(format!(
                        "The timestamp on the NextToken has expired: {tok}"
                    )));
                }
                let filter = t.filter();
                (
                    t.stream,
                    Some(t.stream_uid),
                    Some(t.after),
                    filter,
                    input.max_results.unwrap_or(t.max_results),
                )
            }
            None => {
                if !has_stream {
                    return Err(StreamsError::InvalidArgument(
                        "Either NextToken or StreamName should be provided.".into(),
                    ));
                }
                let name = self.resolve_name(&input.stream)?;
                let after = input
                    .exclusive_start_shard_id
                    .as_deref()
                    .and_then(parse_shard_id);
                (
                    name,
                    None,
                    after,
                    input.shard_filter.clone(),
                    input.max_results.unwrap_or(1000),
                )
            }
        };
        let max_results = max_results.clamp(1, 10000) as usize;
        self.admit_control(ratelimit::LIST_SHARDS, Some(&name), None)?;
        let stream = self.lookup(&name)?;
        let m = stream.view();
        // A token of a deleted stream of the same name: that stream is gone,
        // as if the name were not reused.
        if token_uid.as_ref().is_some_and(|uid| *uid != m.uid) {
            return Err(self.not_found(&name));
        }
        if m.state == StreamState::Creating {
            return Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} is in CREATING state.",
                self.cfg.account_id
            )));
        }
        let retention_ms = i64::from(m.retention_hours) * 3_600_000;
        let trim_horizon = now - retention_ms;
        // A shard is open at `t` when created at or before `t` (initial shards always) and not closed by `t`.
        let open_at = |s: &ShardMeta, t: i64| {
            (s.parent.is_none() && s.adjacent_parent.is_none() || s.created_ms <= t)
                && s.closed_ms.is_none_or(|c| c > t)
        };
        let mut filter_after = None;
        let keep = |s: &ShardMeta| -> Result<bool, StreamsError> {
            Ok(match &filter {
                None => true,
                Some(f) => match f.filter_type {
                    ShardFilterType::AfterShardId => true,
                    ShardFilterType::AtTrimHorizon => open_at(s, trim_horizon),
                    ShardFilterType::FromTrimHorizon => true,
                    ShardFilterType::AtLatest => is_open(s),
                    ShardFilterType::AtTimestamp => {
                        open_at(s, f.timestamp.map(|t| t.0).unwrap_or(now))
                    }
                    ShardFilterType::FromTimestamp => s
                        .closed_ms
                        .is_none_or(|c| c >= f.timestamp.map(|t| t.0).unwrap_or(now)),
                },
            })
        };
        if let Some(f) = &filter {
            match f.filter_type {
                ShardFilterType::AfterShardId => {
                    let id = f.shard_id.as_deref().ok_or_else(|| {
                        StreamsError::InvalidArgument(
                            "ShardId must be provided for AFTER_SHARD_ID ShardFilter.".into(),
                        )
                    })?;
                    filter_after = parse_shard_id(id);
                }
                ShardFilterType::AtTimestamp | ShardFilterType::FromTimestamp
                    if f.timestamp.is_none() =>
                {
                    return Err(StreamsError::InvalidArgument(
                        "Timestamp must be provided for AT_TIMESTAMP or FROM_TIMESTAMP ShardFilter.".into(),
                    ));
                }
                _ => {}
            }
        }
        let mut selected = Vec::new();
        for s in self.visible_shards(&m) {
            if after.is_some_and(|a| s.index <= a) || filter_after.is_some_and(|a| s.index <= a) {
                continue;
            }
            if keep(s)? {
                selected.push(s);
            }
        }
        let has_more = selected.len() > max_results;
        selected.truncate(max_results);
        let next_token = match (has_more, selected.last()) {
            (true, Some(last)) => Some(
                ShardPageToken {
                    stream: name.clone(),
                    stream_uid: m.uid.clone(),
                    after: last.index,
                    max_results: max_results as i64,
                    issued_ms: now,
                    filter: filter.as_ref().map(|f| {
                        (
                            filter_code(f.filter_type),
                            f.shard_id.clone(),
                            f.timestamp.map(|t| t.0),
                        )
                    }),
                }
                .seal(&self.tokens)?,
            ),
            _ => None,
        };
        Ok(ListShardsOutput {
            shards: selected.into_iter().map(|s| self.shard_shape(s)).collect(),
            next_token,
        })
    }

    pub async fn increase_retention(&self, input: RetentionInput) -> Result<(), StreamsError> {
        self.admit_for(ratelimit::INCREASE_RETENTION, &input.stream)?;
        let h = input.retention_period_hours;
        check_retention_bounds(h)?;
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.update_active(&name, &stream, |m| {
            if i64::from(m.retention_hours) > h {
                return Err(StreamsError::InvalidArgument(format!(
                    "Requested retention period ({h} hours) for stream {name} can not be shorter than existing retention period ({} hours). Use DecreaseRetentionPeriod API.",
                    m.retention_hours
                )));
            }
            m.retention_hours = h as u32;
            Ok(())
        })
    }

    pub async fn decrease_retention(&self, input: RetentionInput) -> Result<(), StreamsError> {
        self.admit_for(ratelimit::DECREASE_RETENTION, &input.stream)?;
        let h = input.retention_period_hours;
        check_retention_bounds(h)?;
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.update_active(&name, &stream, |m| {
            if i64::from(m.retention_hours) < h {
                return Err(StreamsError::InvalidArgument(format!(
                    "Requested retention period ({h} hours) for stream {name} can not be longer than existing retention period ({} hours). Use IncreaseRetentionPeriod API.",
                    m.retention_hours
                )));
            }
            m.retention_hours = h as u32;
            Ok(())
        })?;
        // Shorter retention makes older data unreachable at once; reclaim its space now.
        off_worker(|| self.enforce_retention_for(&stream));
        Ok(())
    }

    pub async fn update_max_record_size(
        &self,
        input: UpdateMaxRecordSizeInput,
    ) -> Result<(), StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.update_active(&name, &stream, |m| {
            m.max_record_size_kib = input.max_record_size_kib as u32;
            Ok(())
        })
    }

    pub async fn describe_limits(&self) -> Result<DescribeLimitsOutput, StreamsError> {
        self.admit_control(ratelimit::DESCRIBE_LIMITS, None, None)?;
        self.settle_all();
        let on_demand = self
            .streams
            .read()
            .values()
            .filter(|s| s.view().mode == "ON_DEMAND")
            .count();
        Ok(DescribeLimitsOutput {
            shard_limit: self.cfg.shard_limit,
            open_shard_count: self.open_shard_count(),
            on_demand_stream_count: on_demand as i64,
            on_demand_stream_count_limit: self.cfg.on_demand_stream_limit,
        })
    }
}

pub(super) fn check_retention_bounds(h: i64) -> Result<(), StreamsError> {
    if h < MIN_RETENTION {
        return Err(StreamsError::InvalidArgument(format!(
            "Minimum allowed retention period is {MIN_RETENTION} hours. Requested retention period ({h} hours) is too short."
        )));
    }
    if h > MAX_RETENTION {
        return Err(StreamsError::InvalidArgument(format!(
            "Maximum allowed retention period is {MAX_RETENTION} hours. Requested retention period ({h} hours) is too long."
        )));
    }
    Ok(())
}
