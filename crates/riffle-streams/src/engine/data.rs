//! Data plane: PutRecord(s), GetShardIterator, GetRecords, and the routing,
//! limits and sequence numbers they share.

use super::*;

/// A PutRecords record's data as its shard's batch takes it: base64 text
/// from the request is decoded straight into the batch buffer.
struct EntryData<'a>(&'a RecordData);

impl riffle_log::RecordValue for EntryData<'_> {
    fn stored_len(&self) -> usize {
        self.0.len()
    }

    fn append_to(&self, buf: &mut Vec<u8>) -> bool {
        self.0.append_to(buf)
    }
}

fn log_not_open(index: u32) -> StreamsError {
    StreamsError::Internal(format!("log of {} is not open", shard_id(index)))
}

impl Engine {
    /// Picks the open shard for a record and returns (shard index, log).
    pub(super) fn route(
        &self,
        name: &str,
        stream: &LiveStream,
        m: &StreamView,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
    ) -> Result<(u32, Arc<ShardHandle>), StreamsError> {
        let index = self.route_index(name, m, partition_key, explicit_hash_key)?;
        let log = stream.log(index).ok_or_else(|| log_not_open(index))?;
        Ok((index, log))
    }

    /// The index of the open shard whose hash range holds the record's key.
    fn route_index(
        &self,
        name: &str,
        m: &StreamView,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
    ) -> Result<u32, StreamsError> {
        let hash = match explicit_hash_key {
            Some(k) => parse_hash_key(k).ok_or_else(|| {
                StreamsError::InvalidArgument(format!(
                    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}"
                ))
            })?,
            None => partition_key_hash(partition_key),
        };
        m.route(hash).ok_or_else(|| {
            StreamsError::Internal(format!(
                "no open shard covers hash key {hash} in stream {name}"
            ))
        })
    }

    pub(super) fn writable(
        &self,
        name: &str,
        stream: &LiveStream,
    ) -> Result<Arc<StreamView>, StreamsError> {
        let m = stream.view();
        match m.state {
            // Deleted while CREATING: no shards, answered as CREATING was.
            StreamState::Deleting if m.shards.is_empty() => Err(self.not_found(name)),
            StreamState::Active | StreamState::Updating | StreamState::Deleting => Ok(m),
            StreamState::Creating => Err(self.not_found(name)),
        }
    }

    pub(super) fn record_limit(m: &StreamMeta) -> usize {
        m.max_record_size_kib as usize * 1024
    }

    pub(super) fn record_too_large(&self, name: &str, size: usize, m: &StreamMeta) -> StreamsError {
        StreamsError::InvalidArgument(format!(
            "Record size {size} bytes (data plus partition key) exceeds the maximum record size of {} KiB for stream {name} under account {}.",
            m.max_record_size_kib, self.cfg.account_id
        ))
    }

    pub(super) fn seq_of(m: &StreamView, shard_index: u32, offset: u64, ts_ms: i64) -> String {
        let created = m
            .shard(shard_index)
            .map(create_secs)
            .unwrap_or(secs(m.created_ms));
        seqnum::encode(SeqParts {
            shard_create_secs: created,
            shard_index,
            seq_index: offset,
            record_secs: secs(ts_ms),
        })
    }

    /// AWS's throttling message, for writes and reads alike.
    pub(super) fn rate_exceeded(&self, name: &str, index: u32) -> String {
        format!(
            "Rate exceeded for shard {} in stream {name} under account {}.",
            shard_id(index),
            self.cfg.account_id
        )
    }

    /// Takes one record of `bytes` from its shard's write buckets (always true with limits off).
    pub(super) fn admit_write(&self, log: &ShardHandle, now: i64, bytes: usize) -> bool {
        !self.cfg.throughput_limits || log.limiter().admit_write(now, bytes as u64)
    }

    pub async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput, StreamsError> {
        let started = std::time::Instant::now();
        let (name, stream) = self.lookup_ref(&input.stream)?;
        let m = self.writable(&name, &stream)?;
        if let Some(seq) = &input.sequence_number_for_ordering {
            // AWS accepts any layout it can decode (version 1 included) whose
            // record time is not in the future; version 3 is its 500.
            let now_secs = secs(self.now_ms());
            match seqnum::parse_any(seq) {
                Ok(p) if p.record_secs.is_none_or(|t| t <= now_secs) => {}
                Err(seqnum::ParseError::Version3) => {
                    return Err(StreamsError::Internal(format!(
                        "SequenceNumberForOrdering {seq} has layout version 3"
                    )));
                }
                _ => {
                    return Err(StreamsError::InvalidArgument(format!(
                        "ExclusiveMinimumSequenceNumber {seq} used in PutRecord on stream {name} under account {} is invalid.",
                        self.cfg.account_id
                    )));
                }
            }
        }
        let size = input.data.len() + input.partition_key.len();
        if size > Self::record_limit(&m) {
            return Err(self.record_too_large(&name, size, &m));
        }
        let record = Arc::new((input.partition_key, input.data));
        let mut m = m;
        for _ in 0..RESHARD_RETRIES {
            let (index, log) = self.route(
                &name,
                &stream,
                &m,
                &record.0,
                input.explicit_hash_key.as_deref(),
            )?;
            let now = self.now_ms();
            if !self.admit_write(&log, now, size) {
                stream.metrics.write_throttled.add(1);
                log.metrics.write_throttled.add(1);
                return Err(StreamsError::ProvisionedThroughputExceeded(
                    self.rate_exceeded(&name, index),
                ));
            }
            let r = record.clone();
            let appended = tokio::task::spawn_blocking(move || {
                log.append(now, &[(r.0.as_bytes(), r.1.as_slice())])
            })
            .await
            .map_err(|e| StreamsError::Internal(format!("blocking task failed: {e}")))?;
            match appended {
                Ok(info) => {
                    stream.metrics.put_record_ok(size, started);
                    return Ok(PutRecordOutput {
                        shard_id: shard_id(index),
                        sequence_number: Self::seq_of(
                            &m,
                            index,
                            info.first_offset,
                            info.timestamp_ms,
                        ),
                        encryption_type: m.encryption_key.as_ref().map(|_| "KMS".to_string()),
                    });
                }
                Err(AppendError::Closed) => m = self.after_reshard(&name, &stream)?,
                Err(AppendError::Log(e)) => return Err(e.into()),
            }
        }
        Err(StreamsError::Internal(format!(
            "stream {name} kept resharding under a PutRecord"
        )))
    }

    /// Waits for an in-progress reshard to publish its shard map, then returns it.
    pub(super) fn after_reshard(
        &self,
        name: &str,
        stream: &LiveStream,
    ) -> Result<Arc<StreamView>, StreamsError> {
        drop(stream.write.lock());
        self.writable(name, stream)
    }

    pub async fn put_records(
        &self,
        input: PutRecordsInput,
    ) -> Result<PutRecordsOutput, StreamsError> {
        let started = std::time::Instant::now();
        let (name, stream) = self.lookup_ref(&input.stream)?;
        let (mut outcomes, m) = self
            .append_entries(&name, &stream, Arc::new(input.records), started)
            .await?;
        // A KMS failure fails the whole call, as on AWS: per-record entries
        // never carry KMS codes.
        if let Some(i) = outcomes
            .iter()
            .position(|o| matches!(o, Err(StreamsError::Kms { .. })))
        {
            outcomes.swap_remove(i)?;
        }
        let mut failed = 0;
        let results: Vec<PutRecordsResultEntry> = outcomes
            .into_iter()
            .map(|o| match o {
                Ok(a) => PutRecordsResultEntry {
                    shard_id: Some(a.shard_id),
                    sequence_number: Some(a.sequence_number),
                    ..Default::default()
                },
                Err(e) => {
                    failed += 1;
                    let (code, message) = match e {
                        StreamsError::ProvisionedThroughputExceeded(msg) => {
                            ("ProvisionedThroughputExceededException", msg)
                        }
                        _ => ("InternalFailure", "Internal service failure.".to_string()),
                    };
                    PutRecordsResultEntry {
                        error_code: Some(code.into()),
                        error_message: Some(message),
                        ..Default::default()
                    }
                }
            })
            .collect();
        Ok(PutRecordsOutput {
            failed_record_count: failed,
            records: results,
            encryption_type: m.encryption_key.as_ref().map(|_| "KMS".to_string()),
        })
    }

    /// PutRecords' record path, shared with [`Engine::append`]: checks sizes
    /// (a failure rejects the whole request), routes each record, takes it from
    /// its shard's write buckets, appends one batch per shard in parallel and
    /// waits for durability. A record fails alone with
    /// `ProvisionedThroughputExceeded` or `Internal`; records that race a
    /// reshard are routed again. Returns the outcomes in request order and the
    /// shard map they were written under. Counts the PutRecords metrics.
    pub(super) async fn append_entries(
        &self,
        name: &str,
        stream: &Arc<LiveStream>,
        records: Arc<Vec<PutRecordsEntry>>,
        started: std::time::Instant,
    ) -> Result<(Vec<Result<Appended, StreamsError>>, Arc<StreamView>), StreamsError> {
        let m = self.writable(name, stream)?;
        let limit = Self::record_limit(&m);
        let mut total = 0usize;
        for r in records.iter() {
            let size = r.data.len() + r.partition_key.len();
            if size > limit {
                return Err(self.record_too_large(name, size, &m));
            }
            total += size;
        }
        if total > PUT_RECORDS_MAX_BYTES {
            return Err(StreamsError::InvalidArgument(format!(
                "Records size exceeds 10 MB limit: request for stream {name} under account {} carries {total} bytes.",
                self.cfg.account_id
            )));
        }
        let internal = || StreamsError::Internal("Internal service failure.".into());
        let mut results: Vec<Option<Result<Appended, StreamsError>>> =
            (0..records.len()).map(|_| None).collect();
        let mut pending: Vec<usize> = (0..records.len()).collect();
        let mut m = m;
        for attempt in 0..RESHARD_RETRIES {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                m = self.after_reshard(name, stream)?;
            }
            // Route everything first: a request rejected as a whole takes no throughput.
            // One routing snapshot per request: each shard's log is looked up (and its
            // `Arc` cloned) once, under one read of the log map, not once per record.
            let mut logs: Vec<(u32, Arc<ShardHandle>)> = Vec::new();
            let mut routed = Vec::with_capacity(pending.len());
            {
                let open = stream.logs.read();
                for &i in &pending {
                    let r = &records[i];
                    let index = self.route_index(
                        name,
                        &m,
                        &r.partition_key,
                        r.explicit_hash_key.as_deref(),
                    )?;
                    let slot = match logs.iter().position(|(k, _)| *k == index) {
                        Some(slot) => slot,
                        None => {
                            let log = open.get(&index).ok_or_else(|| log_not_open(index))?;
                            logs.push((index, log.clone()));
                            logs.len() - 1
                        }
                    };
                    routed.push((i, slot));
                }
            }
            pending.clear();
            let now = self.now_ms();
            // Group by shard, keeping request order within each shard; one log batch per shard.
            let mut groups: Vec<Vec<usize>> = vec![Vec::new(); logs.len()];
            // In request order, each record against its own shard's buckets;
            // only admitted records are appended.
            for (i, slot) in routed {
                let r = &records[i];
                let (index, log) = &logs[slot];
                if !self.admit_write(log, now, r.data.len() + r.partition_key.len()) {
                    log.metrics.write_throttled.add(1);
                    results[i] = Some(Err(StreamsError::ProvisionedThroughputExceeded(
                        self.rate_exceeded(name, *index),
                    )));
                    continue;
                }
                groups[slot].push(i);
            }
            // In shard order, as before.
            let mut groups: Vec<(u32, Arc<ShardHandle>, Vec<usize>)> = logs
                .into_iter()
                .zip(groups)
                .filter(|(_, positions)| !positions.is_empty())
                .map(|((index, log), positions)| (index, log, positions))
                .collect();
            groups.sort_unstable_by_key(|g| g.0);
            let mut tasks = Vec::with_capacity(groups.len());
            for (index, log, positions) in groups {
                let records = records.clone();
                tasks.push(tokio::task::spawn_blocking(move || {
                    let batch: Vec<(&[u8], EntryData<'_>)> = positions
                        .iter()
                        .map(|&i| {
                            (
                                records[i].partition_key.as_bytes(),
                                EntryData(&records[i].data),
                            )
                        })
                        .collect();
                    let res = log.append(now, &batch);
                    (index, positions, res)
                }));
            }
            for t in tasks {
                let (index, positions, res) =
                    t.await.map_err(|e| StreamsError::Internal(e.to_string()))?;
                match res {
                    Ok(info) => {
                        let id = shard_id(index);
                        for (k, &i) in positions.iter().enumerate() {
                            results[i] = Some(Ok(Appended {
                                shard_id: id.clone(),
                                sequence_number: Self::seq_of(
                                    &m,
                                    index,
                                    info.first_offset + k as u64,
                                    info.timestamp_ms,
                                ),
                            }));
                        }
                    }
                    // The shard closed under us: those records go to its children next round.
                    Err(AppendError::Closed) => pending.extend(positions),
                    Err(AppendError::Log(e)) => {
                        tracing::error!(stream = name, shard = index, error = %e, "append failed");
                        // An unusable KMS key keeps its code: put_records fails the call with it.
                        let kms = match StreamsError::from(e) {
                            StreamsError::Kms { code, message } => Some((code, message)),
                            _ => None,
                        };
                        for &i in &positions {
                            results[i] = Some(Err(match &kms {
                                Some((code, message)) => StreamsError::Kms {
                                    code,
                                    message: message.clone(),
                                },
                                None => internal(),
                            }));
                        }
                    }
                }
            }
        }
        let outcomes: Vec<_> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(internal())))
            .collect();
        self.count_put_records(stream, &records, &outcomes, started);
        Ok((outcomes, m))
    }

    pub(super) fn shard_not_found(&self, name: &str, id: &str) -> StreamsError {
        StreamsError::ResourceNotFound(format!(
            "Shard {id} in stream {name} under account {} does not exist",
            self.cfg.account_id
        ))
    }

    /// First offset still within retention. It may read the log's first
    /// batch headers, so it runs on the blocking pool.
    pub(super) async fn trim_horizon(
        &self,
        m: &StreamMeta,
        log: &Arc<ShardHandle>,
    ) -> Result<u64, StreamsError> {
        let cutoff = self.now_ms() - i64::from(m.retention_hours) * 3_600_000;
        let log = log.clone();
        blocking(move || Ok(log.offset_for_timestamp(cutoff)?.max(log.start_offset()))).await
    }

    /// Where a read starting at `kind` begins in the shard's log: what
    /// GetShardIterator encodes and what [`Engine::read`] starts from.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn start_offset(
        &self,
        name: &str,
        m: &StreamView,
        shard: &ShardMeta,
        log: &Arc<ShardHandle>,
        kind: ShardIteratorType,
        seq: Option<&str>,
        ts: Option<i64>,
        now: i64,
    ) -> Result<u64, StreamsError> {
        let acct = &self.cfg.account_id;
        let index = shard.index;
        let id = shard_id(index);
        Ok(match kind {
            ShardIteratorType::AtSequenceNumber | ShardIteratorType::AfterSequenceNumber => {
                let seq = seq.unwrap_or("");
                let invalid = || {
                    StreamsError::InvalidArgument(format!(
                        "StartingSequenceNumber {seq} used in GetShardIterator on shard {id} in stream {name} under account {acct} is invalid."
                    ))
                };
                // AWS's order: decode any layout, then the shard it names (a
                // small number like `5` names shard 5), then that it came from
                // this shard's stream; an old version-0 number that passes the
                // shard check is AWS's InternalFailure.
                let any = seqnum::parse_any(seq).map_err(|_| invalid())?;
                if i64::from(any.shard_index) != i64::from(index) {
                    return Err(StreamsError::InvalidArgument(format!(
                        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {id}",
                        seqnum::shard_id_signed(any.shard_index)
                    )));
                }
                if any.version == 0 {
                    return Err(StreamsError::Internal(format!(
                        "version-0 StartingSequenceNumber {seq} on {id}"
                    )));
                }
                let p = seqnum::decode(seq)
                    .filter(|p| p.shard_create_secs == create_secs(shard))
                    .ok_or_else(|| {
                        StreamsError::InvalidArgument(format!(
                            "StartingSequenceNumber {seq} used in GetShardIterator on shard {id} in stream {name} under account {acct} is invalid because it did not come from this stream."
                        ))
                    })?;
                if p.seq_index == MAX_SEQ_INDEX {
                    shard.end_offset.unwrap_or_else(|| log.end_offset())
                } else if kind == ShardIteratorType::AtSequenceNumber
                    || subscribe::before_first(&p, shard)
                {
                    p.seq_index
                } else {
                    p.seq_index + 1
                }
            }
            ShardIteratorType::TrimHorizon => self.trim_horizon(m, log).await?,
            ShardIteratorType::Latest => shard.end_offset.unwrap_or_else(|| log.end_offset()),
            ShardIteratorType::AtTimestamp => {
                let ts = ts.unwrap_or(now);
                if ts > now {
                    return Err(StreamsError::InvalidArgument(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {ts}, currentTimestampInMillis: {now}"
                    )));
                }
                let l = log.clone();
                let at = blocking(move || Ok(l.offset_for_timestamp(ts)?)).await?;
                at.max(self.trim_horizon(m, log).await?)
            }
        })
    }

    pub async fn get_shard_iterator(
        &self,
        input: GetShardIteratorInput,
    ) -> Result<GetShardIteratorOutput, StreamsError> {
        let position = self.shard_position(input).await?;
        Ok(GetShardIteratorOutput {
            shard_iterator: position.seal(&self.tokens)?,
        })
    }

    /// The stream a shard iterator was issued for, if this server sealed it
    /// (for request logs: iterators are opaque to everyone else).
    pub fn iterator_stream(&self, shard_iterator: &str) -> Option<String> {
        IteratorToken::open(shard_iterator, &self.tokens).map(|t| t.stream_name)
    }

    /// GetShardIterator's checks and position rules, before sealing: also
    /// where SubscribeToShard starts.
    pub(super) async fn shard_position(
        &self,
        input: GetShardIteratorInput,
    ) -> Result<IteratorToken, StreamsError> {
        let name = self.resolve_name(&input.stream)?;
        let acct = &self.cfg.account_id;
        let raw = input.shard_id.as_str();
        let index = parse_shard_id(raw).ok_or_else(|| {
            StreamsError::ResourceNotFound(format!(
                "Could not find shard {raw} in stream {name} under account {acct}."
            ))
        })?;
        let id = shard_id(index);
        self.admit_control(ratelimit::GET_SHARD_ITERATOR, Some(&name), Some(index))?;
        let stream = self.lookup(&name).map_err(|e| match e {
            StreamsError::ResourceNotFound(_) => self.shard_not_found(&name, &id),
            e => e,
        })?;
        let m = stream.view();
        let shard = m
            .shards
            .iter()
            .find(|s| s.index == index)
            .filter(|_| m.state != StreamState::Creating)
            .ok_or_else(|| self.shard_not_found(&name, &id))?
            .clone();
        let log = stream
            .log(index)
            .ok_or_else(|| self.shard_not_found(&name, &id))?;
        check_iterator_arguments(&input)?;
        let now = self.now_ms();
        let offset = self
            .start_offset(
                &name,
                &m,
                &shard,
                &log,
                input.iterator_type,
                input.starting_sequence_number.as_deref(),
                input.timestamp.map(|t| t.0),
                now,
            )
            .await?;
        Ok(IteratorToken {
            stream_name: name,
            stream_uid: m.uid.clone(),
            shard_index: index,
            offset,
            issued_ms: now,
        })
    }

    /// GetRecords' read, shared with [`Engine::read`]: the read-rate check
    /// (limits on), records from `from` (clamped to the trim horizon) up to
    /// the shard's end, the read charged afterwards, and metrics.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn read_shard(
        &self,
        name: &str,
        stream: &LiveStream,
        m: &StreamView,
        shard: &ShardMeta,
        log: &Arc<ShardHandle>,
        from: u64,
        limit: usize,
        max_bytes: usize,
        now: i64,
        started: std::time::Instant,
    ) -> Result<ShardRead, StreamsError> {
        let limited = self.cfg.throughput_limits;
        if limited && !log.limiter().admit_read(now) {
            stream.metrics.read_throttled.add(1);
            log.metrics.read_throttled.add(1);
            return Err(StreamsError::ProvisionedThroughputExceeded(
                self.rate_exceeded(name, shard.index),
            ));
        }
        let cutoff = self.now_ms() - i64::from(m.retention_hours) * 3_600_000;
        let end_limit = shard.end_offset;
        let l = log.clone();
        // One trip to the blocking pool: the trim horizon may read batch headers too.
        let (start, stored): (u64, Vec<StoredRecord>) = blocking(move || {
            let trim = l.offset_for_timestamp(cutoff)?.max(l.start_offset());
            let start = from.max(trim);
            let mut v = l.read(start, limit, max_bytes)?;
            if let Some(end) = end_limit {
                v.retain(|r| r.offset < end);
            }
            Ok((start, v))
        })
        .await?;
        let bytes: usize = stored.iter().map(|r| r.key.len() + r.value.len()).sum();
        if limited {
            // Charged after the fact; a big read leaves debt that blocks the next ones.
            log.limiter().charge_read(self.now_ms(), bytes as u64);
        }
        let next_offset = stored.last().map(|r| r.offset + 1).unwrap_or(start);
        let tip = shard.end_offset.unwrap_or_else(|| log.end_offset());
        let millis_behind = match stored.last() {
            Some(last) if next_offset < tip => (now - last.timestamp_ms).max(0),
            _ => 0,
        };
        stream
            .metrics
            .get_records_ok(stored.len(), bytes as u64, millis_behind, started);
        // AWS's shard IteratorAgeMilliseconds: the age of the last record read.
        let age = stored.last().map_or(0, |r| (now - r.timestamp_ms).max(0));
        log.metrics.read(stored.len(), bytes as u64, age);
        let at_end = shard.end_offset.is_some_and(|end| next_offset >= end);
        Ok(ShardRead {
            stored,
            next_offset,
            millis_behind,
            at_end,
        })
    }

    pub async fn get_records(
        &self,
        input: GetRecordsInput,
    ) -> Result<GetRecordsOutput, StreamsError> {
        let started = std::time::Instant::now();
        let invalid = || StreamsError::InvalidArgument("Invalid ShardIterator.".into());
        let tok = IteratorToken::open(&input.shard_iterator, &self.tokens).ok_or_else(invalid)?;
        let now = self.now_ms();
        // Saturating: no issue time, however extreme, overflows these.
        if tok.issued_ms > now.saturating_add(60_000) {
            return Err(invalid());
        }
        if now.saturating_sub(tok.issued_ms) > TOKEN_LIFETIME_MS {
            return Err(StreamsError::ExpiredIterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {TOKEN_LIFETIME_MS} milliseconds.",
                amz_date(tok.issued_ms),
                amz_date(now)
            )));
        }
        if let Some(arn) = &input.stream_arn {
            if self.name_from_arn(arn)? != tok.stream_name {
                return Err(invalid());
            }
        }
        let id = shard_id(tok.shard_index);
        let stream = self.lookup(&tok.stream_name).map_err(|e| match e {
            StreamsError::ResourceNotFound(_) => self.shard_not_found(&tok.stream_name, &id),
            e => e,
        })?;
        let m = stream.view();
        // Issued for an earlier stream of the same name: that stream, and so
        // its shard, no longer exists (what AWS answers for a deleted stream).
        if m.uid != tok.stream_uid {
            return Err(self.shard_not_found(&tok.stream_name, &id));
        }
        let shard = m
            .shards
            .iter()
            .find(|s| s.index == tok.shard_index)
            .cloned()
            .ok_or_else(|| self.shard_not_found(&tok.stream_name, &id))?;
        let log = stream
            .log(tok.shard_index)
            .ok_or_else(|| self.shard_not_found(&tok.stream_name, &id))?;
        let limit = input.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
        let ShardRead {
            stored,
            next_offset,
            millis_behind,
            at_end,
        } = self
            .read_shard(
                &tok.stream_name,
                &stream,
                &m,
                &shard,
                &log,
                tok.offset,
                limit,
                GET_RECORDS_MAX_BYTES,
                now,
                started,
            )
            .await?;
        let records = stored
            .into_iter()
            .map(|r| Record {
                sequence_number: Self::seq_of(&m, tok.shard_index, r.offset, r.timestamp_ms),
                approximate_arrival_timestamp: Timestamp(r.timestamp_ms),
                data: Blob(r.value),
                partition_key: String::from_utf8(r.key).unwrap_or_default(),
                // Per record: what matters is how it is stored, not the stream's setting now.
                encryption_type: r.sealed.then(|| "KMS".to_string()),
            })
            .collect();
        // At the end of a closed shard: no next iterator, and the children instead.
        if at_end {
            let children = child_shards(&m, shard.index);
            return Ok(GetRecordsOutput {
                records,
                next_shard_iterator: None,
                millis_behind_latest: 0,
                child_shards: Some(children),
            });
        }
        Ok(GetRecordsOutput {
            records,
            next_shard_iterator: Some(
                IteratorToken {
                    offset: next_offset,
                    issued_ms: now,
                    ..tok
                }
                .seal(&self.tokens)?,
            ),
            millis_behind_latest: millis_behind,
            child_shards: None,
        })
    }
}

/// The children of a closed shard, each naming its parents: what GetRecords
/// and SubscribeToShard return at the shard's end.
/// What [`Engine::read_shard`] read, and where the next read starts.
pub(super) struct ShardRead {
    pub stored: Vec<StoredRecord>,
    pub next_offset: u64,
    pub millis_behind: i64,
    /// The shard is closed and every record in it has been read.
    pub at_end: bool,
}

/// One appended record's place, as PutRecords reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub shard_id: String,
    pub sequence_number: String,
}

/// The shards a reshard created from `parent` (one for a merge, two for a split).
pub(super) fn children_of(m: &StreamMeta, parent: u32) -> impl Iterator<Item = &ShardMeta> {
    m.shards
        .iter()
        .filter(move |c| c.parent == Some(parent) || c.adjacent_parent == Some(parent))
}

pub(super) fn child_shards(m: &StreamMeta, parent: u32) -> Vec<ChildShard> {
    children_of(m, parent)
        .map(|c| ChildShard {
            shard_id: shard_id(c.index),
            parent_shards: c
                .parent
                .iter()
                .chain(c.adjacent_parent.iter())
                .map(|p| shard_id(*p))
                .collect(),
            hash_key_range: HashKeyRange {
                starting_hash_key: c.starting_hash_key.clone(),
                ending_hash_key: c.ending_hash_key.clone(),
            },
        })
        .collect()
}

/// AWS checks these after finding the stream and shard (kinesalite's tests).
pub(super) fn check_iterator_arguments(input: &GetShardIteratorInput) -> Result<(), StreamsError> {
    use ShardIteratorType as T;
    const MISMATCH: &str = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.";
    let kind = input.iterator_type.as_str();
    match (input.iterator_type, &input.starting_sequence_number) {
        (T::TrimHorizon | T::Latest, Some(_)) => Err(StreamsError::InvalidArgument(format!(
            "{MISMATCH} Request specified {kind} and also a StartingSequenceNumber."
        ))),
        (T::AtSequenceNumber | T::AfterSequenceNumber, None) => Err(StreamsError::InvalidArgument(format!(
            "{MISMATCH} Request specified {kind} and no StartingSequenceNumber."
        ))),
        (T::AtTimestamp, _) if input.timestamp.is_none() => Err(StreamsError::InvalidArgument(
            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.".into(),
        )),
        _ => Ok(()),
    }
}

/// `Thu Jan 22 01:22:02 UTC 2015`, the date format of AWS's iterator messages.
pub(super) fn amz_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%a %b %d %H:%M:%S UTC %Y").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_format() {
        assert_eq!(amz_date(1421889722000), "Thu Jan 22 01:22:02 UTC 2015");
    }
}
