//! The control plane: create, delete, describe, list, tags, encryption and
//! UpdateDestination. Each change is one compare-and-swap of the stream's
//! document, serialised per stream; transitions (CREATING, DELETING) carry a
//! deadline and complete in `maintain` or on access, so they survive restarts.

use super::{buffer_dir, new_live, Buffer, Firehose, Live, Progress};
use crate::meta::{DeliveryStreamMeta, EncryptionState, Status};
use crate::{describe, validate, FirehoseError};
use riffle_meta::Versioned;
use riffle_model::firehose as api;
use std::sync::Arc;

/// Tags per delivery stream (AWS: 50).
const MAX_TAGS: usize = 50;

impl Firehose {
    pub async fn create_delivery_stream(
        self: &Arc<Self>,
        input: api::CreateDeliveryStreamInput,
    ) -> Result<String, FirehoseError> {
        let plan = validate::create(&input)?;
        if let Some(src) = &plan.kinesis_source {
            self.check_source(&src.kinesis_stream_arn)?;
        }
        let name = input.delivery_stream_name.clone();
        if self.streams.read().contains_key(&name) {
            return Err(self.in_use(&name));
        }
        if self.streams.read().len() >= self.cfg.delivery_stream_limit {
            return Err(FirehoseError::LimitExceeded(format!(
                "You have already consumed your firehose quota of {} hoses. Firehose names: {}",
                self.cfg.delivery_stream_limit,
                self.streams
                    .read()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let now = self.now_ms();
        let delay = self.cfg.transition_delay_ms as i64;
        let meta = DeliveryStreamMeta {
            arn: DeliveryStreamMeta::arn_for(&self.cfg.region, &self.cfg.account_id, &name),
            name: name.clone(),
            uid: uuid::Uuid::new_v4().simple().to_string(),
            status: if delay == 0 {
                Status::Active
            } else {
                Status::Creating
            },
            transition_deadline_ms: (delay > 0).then_some(now + delay),
            delivery_stream_type: plan.delivery_stream_type.clone(),
            version_id: 1,
            create_ms: now,
            last_update_ms: None,
            kinesis_source: plan.kinesis_source.clone(),
            direct_put_source: plan.direct_put_source.clone(),
            source_start_ms: plan.kinesis_source.as_ref().map(|_| now),
            destination: plan.destination,
            destination_id: "destinationId-000000000001".into(),
            tags: plan.tags,
            encryption: plan.encryption,
            failure: None,
        };
        // What cannot be delivered is refused now (prefixes, compression,
        // processors, the endpoint URL), not at every delivery.
        self.build_plan(&meta)?;
        let this = self.clone();
        let arn = meta.arn.clone();
        let live = tokio::task::spawn_blocking(move || -> Result<Arc<Live>, FirehoseError> {
            if !this.store.create(&meta.name, &meta)? {
                return Err(this.in_use(&meta.name));
            }
            this.progress.put(
                &meta.name,
                &Progress {
                    uid: meta.uid.clone(),
                    ..Progress::default()
                },
            )?;
            let buffer = Buffer::open(&buffer_dir(&this.cfg, &meta), this.cfg.log.clone(), 0)?;
            let live = Arc::new(new_live(
                Versioned {
                    version: 1,
                    doc: meta,
                },
                buffer,
            ));
            Ok(live)
        })
        .await
        .map_err(|e| FirehoseError::Internal(e.to_string()))??;
        self.streams.write().insert(name, live.clone());
        self.start_delivery(&live);
        self.start_source(&live);
        Ok(arn)
    }

    pub async fn delete_delivery_stream(
        self: &Arc<Self>,
        name: &str,
        _allow_force_delete: bool,
    ) -> Result<(), FirehoseError> {
        let live = self.live(name)?;
        let delay = self.cfg.transition_delay_ms as i64;
        let now = self.now_ms();
        self.change(&live, |m| {
            if m.status == Status::Deleting {
                return Ok(false);
            }
            // The model: "You can't delete a Firehose stream that is in the
            // CREATING state."
            if m.status == Status::Creating {
                return Err(FirehoseError::InUse(format!(
                    "Firehose {} is in the CREATING state and cannot be deleted until it is ACTIVE.",
                    m.name
                )));
            }
            m.status = Status::Deleting;
            m.transition_deadline_ms = Some(now + delay);
            Ok(true)
        })
        .await?;
        if delay == 0 {
            let this = self.clone();
            tokio::task::spawn_blocking(move || this.settle(&live))
                .await
                .map_err(|e| FirehoseError::Internal(e.to_string()))??;
        }
        Ok(())
    }

    pub async fn describe_delivery_stream(
        self: &Arc<Self>,
        name: &str,
        limit: Option<i64>,
        exclusive_start_destination_id: Option<&str>,
    ) -> Result<api::DeliveryStreamDescription, FirehoseError> {
        let live = self.live_settled(name).await?;
        let meta = live.snapshot();
        Ok(describe::description(
            &meta,
            limit,
            exclusive_start_destination_id,
        ))
    }

    /// Names in order, at most `limit` (default 10) after `exclusive_start`,
    /// of the given type (all types when `None`); and whether more follow.
    pub fn list_delivery_streams(
        &self,
        limit: Option<i64>,
        stream_type: Option<&str>,
        exclusive_start: Option<&str>,
    ) -> (Vec<String>, bool) {
        let limit = limit.unwrap_or(10).max(1) as usize;
        let streams = self.streams.read();
        let mut names = streams
            .iter()
            .filter(|(n, _)| exclusive_start.is_none_or(|s| n.as_str() > s))
            .filter(|(_, l)| {
                stream_type.is_none_or(|t| l.meta.read().doc.delivery_stream_type == t)
            })
            .map(|(n, _)| n.clone());
        let page: Vec<String> = names.by_ref().take(limit).collect();
        let more = names.next().is_some();
        (page, more)
    }

    pub async fn tag_delivery_stream(
        self: &Arc<Self>,
        name: &str,
        tags: Vec<api::Tag>,
    ) -> Result<(), FirehoseError> {
        let live = self.live_settled(name).await?;
        validate::tags(&tags)?;
        self.change(&live, |m| {
            let mut merged = m.tags.clone();
            for t in &tags {
                match merged.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value.clone(),
                    None => merged.push(t.clone()),
                }
            }
            if merged.len() > MAX_TAGS {
                return Err(FirehoseError::LimitExceeded(format!(
                    "The number of tags exceeds the limit of {MAX_TAGS}."
                )));
            }
            m.tags = merged;
            Ok(true)
        })
        .await
    }

    pub async fn untag_delivery_stream(
        self: &Arc<Self>,
        name: &str,
        keys: Vec<String>,
    ) -> Result<(), FirehoseError> {
        let live = self.live_settled(name).await?;
        self.change(&live, |m| {
            let before = m.tags.len();
            m.tags.retain(|t| !keys.contains(&t.key));
            Ok(m.tags.len() != before)
        })
        .await
    }

    /// Tags ordered by key after `exclusive_start`, at most `limit` (default
    /// 50); and whether more follow.
    pub async fn list_tags(
        self: &Arc<Self>,
        name: &str,
        exclusive_start: Option<&str>,
        limit: Option<i64>,
    ) -> Result<(Vec<api::Tag>, bool), FirehoseError> {
        let live = self.live_settled(name).await?;
        let mut tags = live.snapshot().tags;
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        let limit = limit.unwrap_or(50).max(1) as usize;
        let mut it = tags
            .into_iter()
            .filter(|t| exclusive_start.is_none_or(|s| t.key.as_str() > s));
        let page: Vec<api::Tag> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        Ok((page, more))
    }

    pub async fn start_encryption(
        self: &Arc<Self>,
        name: &str,
        cfg: Option<api::DeliveryStreamEncryptionConfigurationInput>,
    ) -> Result<(), FirehoseError> {
        let live = self.live_settled(name).await?;
        let cfg = cfg.unwrap_or(api::DeliveryStreamEncryptionConfigurationInput {
            key_arn: None,
            key_type: "AWS_OWNED_CMK".into(),
        });
        if live.snapshot().delivery_stream_type != "DirectPut" {
            // The model: server-side encryption is for Direct PUT sources; a
            // Kinesis source stream carries its own encryption.
            return Err(FirehoseError::InvalidArgument(
                "Server-side encryption is only supported for delivery streams of type DirectPut."
                    .into(),
            ));
        }
        let state = validate::encryption(&cfg)?;
        self.change(&live, |m| {
            m.encryption = Some(state);
            Ok(true)
        })
        .await
    }

    pub async fn stop_encryption(self: &Arc<Self>, name: &str) -> Result<(), FirehoseError> {
        let live = self.live_settled(name).await?;
        self.change(&live, |m| {
            m.encryption = Some(EncryptionState {
                status: "DISABLED".into(),
                key_type: None,
                key_arn: None,
            });
            Ok(true)
        })
        .await
    }

    pub async fn update_destination(
        self: &Arc<Self>,
        input: api::UpdateDestinationInput,
    ) -> Result<(), FirehoseError> {
        let live = self.live_settled(&input.delivery_stream_name).await?;
        let now = self.now_ms();
        self.change(&live, |m| {
            if m.status != Status::Active {
                return Err(FirehoseError::InUse(format!(
                    "Firehose {} is not in the ACTIVE state.",
                    m.name
                )));
            }
            let before = m.destination.clone();
            m.destination = validate::update(m, &input)?;
            if let Err(e) = self.build_plan(m) {
                m.destination = before;
                return Err(e);
            }
            m.version_id += 1;
            m.last_update_ms = Some(now);
            Ok(true)
        })
        .await
    }

    fn in_use(&self, name: &str) -> FirehoseError {
        FirehoseError::InUse(format!(
            "Firehose {name} under account {} already exists.",
            self.cfg.account_id
        ))
    }

    /// The stream with any due transition completed first.
    async fn live_settled(self: &Arc<Self>, name: &str) -> Result<Arc<Live>, FirehoseError> {
        let live = self.live(name)?;
        let due = live
            .meta
            .read()
            .doc
            .transition_deadline_ms
            .is_some_and(|d| d <= self.now_ms());
        if due {
            let this = self.clone();
            let l = live.clone();
            tokio::task::spawn_blocking(move || this.settle(&l))
                .await
                .map_err(|e| FirehoseError::Internal(e.to_string()))??;
            return self.live(name);
        }
        Ok(live)
    }

    /// Applies `f` to the stream's document and stores it (one CAS),
    /// serialised with other changes of the stream. `f` returns whether it
    /// changed anything.
    pub(crate) async fn change(
        &self,
        live: &Arc<Live>,
        f: impl FnOnce(&mut DeliveryStreamMeta) -> Result<bool, FirehoseError>,
    ) -> Result<(), FirehoseError> {
        let _serial = live.change.lock().await;
        let current = live.meta.read().clone();
        let mut doc = current.doc.clone();
        if !f(&mut doc)? {
            return Ok(());
        }
        let store = self.store.clone();
        let key = doc.name.clone();
        let stored = doc.clone();
        let version = tokio::task::spawn_blocking(move || {
            store.compare_and_swap(&key, current.version, &stored)
        })
        .await
        .map_err(|e| FirehoseError::Internal(e.to_string()))??
        .ok_or_else(|| {
            FirehoseError::ConcurrentModification(
                "Cannot update firehose: the delivery stream was changed concurrently.".into(),
            )
        })?;
        *live.meta.write() = Versioned { version, doc };
        Ok(())
    }

    /// Completes a due transition. Blocking.
    pub(crate) fn settle(&self, live: &Arc<Live>) -> Result<(), FirehoseError> {
        let current = live.meta.read().clone();
        let Some(deadline) = current.doc.transition_deadline_ms else {
            return Ok(());
        };
        if deadline > self.now_ms() {
            return Ok(());
        }
        match current.doc.status {
            Status::Deleting => {
                self.stop_delivery(live);
                self.stop_source(live);
                let name = current.doc.name.clone();
                self.store.compare_and_delete(&name, current.version)?;
                self.progress.delete(&name)?;
                let removed = {
                    let mut streams = self.streams.write();
                    match streams.get(&name) {
                        Some(l) if Arc::ptr_eq(l, live) => streams.remove(&name),
                        _ => None,
                    }
                };
                if removed.is_some() {
                    let dir = live.buffer.dir().to_path_buf();
                    if let Err(e) = std::fs::remove_dir_all(&dir) {
                        tracing::warn!(dir = %dir.display(), error = %e, "firehose: could not remove a deleted stream's buffer");
                    }
                }
                Ok(())
            }
            _ => {
                let mut doc = current.doc.clone();
                doc.status = Status::Active;
                doc.transition_deadline_ms = None;
                if let Some(v) = self
                    .store
                    .compare_and_swap(&doc.name, current.version, &doc)?
                {
                    *live.meta.write() = Versioned { version: v, doc };
                }
                Ok(())
            }
        }
    }
}
