//! Resharding: SplitShard, MergeShards and UpdateShardCount.
//!
//! A request is validated, then either applied at once (transition delay 0)
//! or recorded as the stream's pending reshard while it is UPDATING and
//! applied when that period ends. Applying is one metadata transaction: the
//! parents are closed at their final end offset (their write gates shut and
//! their logs synced first), the children are added with their lineage, and
//! only then does the new shard map go live. A crash before the commit leaves
//! the old map; after it, the new one.

use super::*;
use riffle_meta::Reshard;

/// What a reshard changes: shards to close (they exist and are open) and
/// shards to add (in index order; some may be born closed: UpdateShardCount's
/// intermediate steps).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub close: Vec<u32>,
    pub add: Vec<ShardMeta>,
}

fn range(s: &ShardMeta) -> (u128, u128) {
    (
        s.starting_hash_key.parse().unwrap_or(0),
        s.ending_hash_key.parse().unwrap_or(0),
    )
}

struct Planner {
    now: i64,
    next_index: u32,
    plan: Plan,
}

impl Planner {
    fn child(&mut self, start: u128, end: u128, parent: u32, adjacent: Option<u32>) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        self.plan.add.push(ShardMeta {
            index,
            starting_hash_key: start.to_string(),
            ending_hash_key: end.to_string(),
            created_ms: self.now,
            parent: Some(parent),
            adjacent_parent: adjacent,
            closed_ms: None,
            end_offset: None,
            seq_after_parents: true,
        });
        index
    }

    /// Closes `index`: an existing shard goes to `close`; a shard this plan
    /// created is closed in place, empty.
    fn close(&mut self, index: u32) {
        if let Some(s) = self.plan.add.iter_mut().find(|s| s.index == index) {
            s.closed_ms = Some(self.now);
            s.end_offset = Some(0);
        } else {
            self.plan.close.push(index);
        }
    }
}

/// Plans `op` over the stream's shards. Pure: validation has already happened.
pub(crate) fn plan(shards: &[ShardMeta], next_index: u32, now: i64, op: &Reshard) -> Plan {
    let mut p = Planner {
        now,
        next_index,
        plan: Plan::default(),
    };
    let find = |i: u32| shards.iter().find(|s| s.index == i);
    match op {
        Reshard::Split {
            shard,
            new_starting_hash_key,
        } => {
            if let (Some(s), Ok(k)) = (find(*shard), new_starting_hash_key.parse::<u128>()) {
                let (start, end) = range(s);
                p.child(start, k - 1, *shard, None);
                p.child(k, end, *shard, None);
                p.close(*shard);
            }
        }
        Reshard::Merge { shard, adjacent } => {
            if let (Some(a), Some(b)) = (find(*shard), find(*adjacent)) {
                let (ra, rb) = (range(a), range(b));
                p.child(ra.0.min(rb.0), ra.1.max(rb.1), *shard, Some(*adjacent));
                p.close(*shard);
                p.close(*adjacent);
            }
        }
        Reshard::UniformScaling { target } => {
            // Split every open shard at each target boundary inside it, then
            // merge the pieces within each target range pairwise. Every step is a
            // plain split or merge, so each child names exactly its parents.
            let targets = crate::hashing::even_ranges(*target);
            let mut open: Vec<(u128, u128, u32)> = shards
                .iter()
                .filter(|s| is_open(s))
                .map(|s| {
                    let (a, b) = range(s);
                    (a, b, s.index)
                })
                .collect();
            open.sort_unstable();
            let mut pieces: Vec<(u128, u128, u32)> = Vec::new();
            for (start, end, index) in open {
                let mut cur = (start, end, index);
                for &(b, _) in targets.iter().skip(1) {
                    if cur.0 < b && b <= cur.1 {
                        let left = p.child(cur.0, b - 1, cur.2, None);
                        let right = p.child(b, cur.1, cur.2, None);
                        p.close(cur.2);
                        pieces.push((cur.0, b - 1, left));
                        cur = (b, cur.1, right);
                    }
                }
                pieces.push(cur);
            }
            for &(tstart, tend) in &targets {
                let mut inside = pieces.iter().filter(|(a, b, _)| *a >= tstart && *b <= tend);
                let Some(&first) = inside.next() else {
                    continue;
                };
                let mut acc = first;
                for &next in inside {
                    let merged = p.child(acc.0, next.1, acc.2, Some(next.2));
                    p.close(acc.2);
                    p.close(next.2);
                    acc = (acc.0, next.1, merged);
                }
            }
        }
    }
    p.plan
}

impl Engine {
    fn shard_limit_error(&self, current: i64, additional: i64) -> StreamsError {
        StreamsError::LimitExceeded(format!(
            "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {}. Limit: {}. Number of additional shards that would have resulted from this request: {}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
            self.cfg.account_id, self.cfg.region, current, self.cfg.shard_limit, additional
        ))
    }

    fn could_not_find_shard(&self, raw: &str, name: &str) -> StreamsError {
        StreamsError::ResourceNotFound(format!(
            "Could not find shard {raw} in stream {name} under account {}.",
            self.cfg.account_id
        ))
    }

    fn provisioned_only(&self, name: &str, m: &StreamMeta, op: &str) -> Result<(), StreamsError> {
        if m.mode == "ON_DEMAND" {
            return Err(StreamsError::InvalidArgument(format!(
                "{op} is not supported for stream {name} under account {} because it is in ON_DEMAND capacity mode. Resharding APIs are only supported for streams in PROVISIONED mode.",
                self.cfg.account_id
            )));
        }
        Ok(())
    }

    /// An existing, open shard of the stream, or AWS's errors for the id.
    fn open_shard_for_reshard(
        &self,
        name: &str,
        m: &StreamView,
        raw: &str,
    ) -> Result<ShardMeta, StreamsError> {
        let index = parse_shard_id(raw).ok_or_else(|| self.could_not_find_shard(raw, name))?;
        // AWS answers a stream that is not (yet, or any more) ACTIVE with its
        // state before looking at the shard: a CREATING stream has no shards
        // to find, but the error is ResourceInUse, not ResourceNotFound.
        if matches!(m.state, StreamState::Creating | StreamState::Deleting) {
            self.require_active(name, m)?;
        }
        let s = m
            .shard(index)
            .ok_or_else(|| self.could_not_find_shard(&shard_id(index), name))?;
        Ok(s.clone())
    }

    fn not_eligible(&self, name: &str, s: &ShardMeta) -> StreamsError {
        StreamsError::InvalidArgument(format!(
            "Shard {} in stream {name} under account {} has already been merged or split, and thus is not eligible for merging or splitting.",
            shard_id(s.index),
            self.cfg.account_id
        ))
    }

    pub async fn split_shard(&self, input: SplitShardInput) -> Result<(), StreamsError> {
        let name = self.resolve_name(&input.stream)?;
        self.admit_control(ratelimit::SPLIT_SHARD, Some(&name), None)?;
        // The shard id is checked before the stream is looked up (kinesalite's order).
        if parse_shard_id(&input.shard_to_split).is_none() {
            return Err(self.could_not_find_shard(&input.shard_to_split, &name));
        }
        let stream = self.lookup(&name)?;
        let m = stream.view();
        let shard = self.open_shard_for_reshard(&name, &m, &input.shard_to_split)?;
        let current = self.open_shard_count();
        if current + 1 > self.cfg.shard_limit {
            return Err(self.shard_limit_error(current, 1));
        }
        let (start, end) = range(&shard);
        let key = input.new_starting_hash_key.as_str();
        let ok = parse_hash_key(key).is_some_and(|k| k > start.saturating_add(1) && k < end);
        if !ok {
            return Err(StreamsError::InvalidArgument(format!(
                "NewStartingHashKey {key} used in SplitShard() on shard {} in stream {name} under account {} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
                shard_id(shard.index),
                self.cfg.account_id,
                shard.starting_hash_key,
                shard.ending_hash_key
            )));
        }
        self.require_active(&name, &m)?;
        self.provisioned_only(&name, &m, "SplitShard")?;
        if !is_open(&shard) {
            return Err(self.not_eligible(&name, &shard));
        }
        let op = Reshard::Split {
            shard: shard.index,
            new_starting_hash_key: key.to_string(),
        };
        self.schedule_reshard(&name, &stream, op, |_| Ok(()))
    }

    pub async fn merge_shards(&self, input: MergeShardsInput) -> Result<(), StreamsError> {
        let name = self.resolve_name(&input.stream)?;
        self.admit_control(ratelimit::MERGE_SHARDS, Some(&name), None)?;
        for raw in [&input.shard_to_merge, &input.adjacent_shard_to_merge] {
            if parse_shard_id(raw).is_none() {
                return Err(self.could_not_find_shard(raw, &name));
            }
        }
        let stream = self.lookup(&name)?;
        let m = stream.view();
        let a = self.open_shard_for_reshard(&name, &m, &input.shard_to_merge)?;
        let b = self.open_shard_for_reshard(&name, &m, &input.adjacent_shard_to_merge)?;
        let (ra, rb) = (range(&a), range(&b));
        // AWS requires the pair in hash order: ShardToMerge is the lower one and
        // AdjacentShardToMerge starts right after it. The inverted pair is
        // refused with the same message (kinesalite's check, matching AWS).
        let adjacent =
            a.index != b.index && is_open(&a) && is_open(&b) && ra.1.checked_add(1) == Some(rb.0);
        if !adjacent {
            return Err(StreamsError::InvalidArgument(format!(
                "Shards {} and {} in stream {name} under account {} are not an adjacent pair of shards eligible for merging",
                shard_id(a.index),
                shard_id(b.index),
                self.cfg.account_id
            )));
        }
        self.require_active(&name, &m)?;
        self.provisioned_only(&name, &m, "MergeShards")?;
        let op = Reshard::Merge {
            shard: a.index,
            adjacent: b.index,
        };
        self.schedule_reshard(&name, &stream, op, |_| Ok(()))
    }

    pub async fn update_shard_count(
        &self,
        input: UpdateShardCountInput,
    ) -> Result<UpdateShardCountOutput, StreamsError> {
        let name = self.resolve_name(&input.stream)?;
        self.admit_control(ratelimit::UPDATE_SHARD_COUNT, Some(&name), None)?;
        let stream = self.lookup(&name)?;
        let m = stream.view();
        self.require_active(&name, &m)?;
        self.provisioned_only(&name, &m, "UpdateShardCount")?;
        let open = m.shards.iter().filter(|s| is_open(s)).count() as i64;
        let target = input.target_shard_count;
        let acct = &self.cfg.account_id;
        if target > open * 2 {
            return Err(StreamsError::LimitExceeded(format!(
                "UpdateShardCount for stream {name} under account {acct}: TargetShardCount {target} is more than double the current open shard count {open}. Scale in steps of at most 2x."
            )));
        }
        if target * 2 < open {
            return Err(StreamsError::LimitExceeded(format!(
                "UpdateShardCount for stream {name} under account {acct}: TargetShardCount {target} is less than half the current open shard count {open}. Scale in steps of at most 2x."
            )));
        }
        if target > 10_000 {
            return Err(StreamsError::LimitExceeded(format!(
                "UpdateShardCount for stream {name} under account {acct}: TargetShardCount {target} exceeds the maximum of 10000 shards per stream."
            )));
        }
        let current = self.open_shard_count();
        if target > open && current + (target - open) > self.cfg.shard_limit {
            return Err(self.shard_limit_error(current, target - open));
        }
        let now = self.now_ms();
        let day_ago = now - 24 * 3_600_000;
        if m.shard_count_updates
            .iter()
            .filter(|t| **t > day_ago)
            .count()
            >= 10
        {
            return Err(StreamsError::LimitExceeded(format!(
                "UpdateShardCount for stream {name} under account {acct} has already been called 10 times in the last 24 hours."
            )));
        }
        let op = Reshard::UniformScaling {
            target: target as u32,
        };
        self.schedule_reshard(&name, &stream, op, |m| {
            m.shard_count_updates.retain(|t| *t > day_ago);
            m.shard_count_updates.push(now);
            Ok(())
        })?;
        Ok(UpdateShardCountOutput {
            stream_name: name.clone(),
            current_shard_count: open,
            target_shard_count: target,
            stream_arn: self.arn(&name),
        })
    }

    /// Applies `op` now (no transition delay) or marks the stream UPDATING
    /// with `op` pending. `extra` adds bookkeeping to the same transaction.
    fn schedule_reshard(
        &self,
        name: &str,
        stream: &Arc<LiveStream>,
        op: Reshard,
        extra: impl FnOnce(&mut StreamMeta) -> Result<(), StreamsError>,
    ) -> Result<(), StreamsError> {
        let (until_ms, immediate) = self.until();
        self.update_meta(stream, |m| {
            self.require_active(name, m)?;
            extra(m)?;
            m.state = StreamState::Updating;
            m.until_ms = until_ms.or(Some(0));
            m.pending_reshard = Some(op);
            Ok(())
        })?;
        if immediate {
            // Opens the children's logs and syncs the parents'.
            off_worker(|| self.apply_reshard(name, stream))?;
        }
        Ok(())
    }

    /// Carries out the pending reshard, if any, and returns the stream to ACTIVE.
    /// Blocking (it syncs the parents' logs); called when UPDATING ends.
    pub(super) fn apply_reshard(
        &self,
        name: &str,
        stream: &Arc<LiveStream>,
    ) -> Result<(), StreamsError> {
        let _serialised = stream.write.lock();
        let current = stream.view();
        let Some(op) = current.pending_reshard.clone() else {
            return Ok(());
        };
        let now = self.now_ms();
        // `settle` decides from a view read without this lock, which may be
        // stale by now: never apply to a stream being deleted or whose
        // deletion committed since (that would turn it back ACTIVE and undo an
        // acknowledged DeleteStream), nor before UPDATING is due. Autoscale's splits
        // (ACTIVE, no deadline) and immediate transitions (deadline 0) apply.
        let due = current.state != StreamState::Updating
            || matches!(current.until_ms, Some(t) if t <= now);
        if stream.is_deleted() || current.state == StreamState::Deleting || !due {
            return Ok(());
        }
        let plan = plan(&current.shards, current.next_shard_index, now, &op);
        let mut next = current.meta.clone();
        // 1. Children's logs exist before anything can route to them.
        let mut new_logs = Vec::with_capacity(plan.add.len());
        for s in &plan.add {
            new_logs.push((
                s.index,
                self.open_log(stream, s.index, s.closed_ms.is_some())?,
            ));
        }
        if !new_logs.is_empty() {
            sync_dir(&stream.dir).map_err(|e| {
                StreamsError::Internal(format!("cannot sync {}: {e}", stream.dir.display()))
            })?;
        }
        // 2. Shut the parents: no acknowledged record can land past their end offset.
        let mut closed = Vec::with_capacity(plan.close.len());
        let mut failure = None;
        for &index in &plan.close {
            let Some(log) = stream.log(index) else {
                continue;
            };
            match log.close() {
                Ok(end) => closed.push((index, log, end)),
                Err(e) => {
                    failure = Some(StreamsError::from(e));
                    break;
                }
            }
        }
        let reopen = |closed: &[(u32, Arc<ShardHandle>, u64)]| {
            for (_, log, _) in closed {
                log.reopen();
            }
        };
        if let Some(e) = failure {
            reopen(&closed);
            return Err(e);
        }
        for (index, _, end) in &closed {
            if let Some(s) = next.shards.iter_mut().find(|s| s.index == *index) {
                s.closed_ms = Some(now);
                s.end_offset = Some(*end);
            }
        }
        next.next_shard_index += plan.add.len() as u32;
        next.shards.extend(plan.add);
        next.state = StreamState::Active;
        next.until_ms = None;
        next.pending_reshard = None;
        // 3. One transaction makes it all durable.
        if let Err(e) = self.meta.put_stream(&next) {
            reopen(&closed);
            return Err(e.into());
        }
        // 4. Publish: logs first, then the map that routes to them.
        stream.logs.write().extend(new_logs);
        *stream.view.write() = Arc::new(StreamView::new(next));
        // Subscribers at a parent's end can now see its children.
        for (_, log, _) in &closed {
            log.wake();
        }
        tracing::info!(stream = name, reshard = ?op, "reshard applied");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn initial(n: u32) -> Vec<ShardMeta> {
        even_ranges(n)
            .into_iter()
            .enumerate()
            .map(|(i, (a, b))| ShardMeta {
                index: i as u32,
                starting_hash_key: a.to_string(),
                ending_hash_key: b.to_string(),
                created_ms: 0,
                parent: None,
                adjacent_parent: None,
                closed_ms: None,
                end_offset: None,
                seq_after_parents: false,
            })
            .collect()
    }

    /// Applies a plan the way `apply_reshard` does, minus the I/O.
    fn apply(shards: &mut Vec<ShardMeta>, p: Plan) {
        for i in &p.close {
            let s = shards.iter_mut().find(|s| s.index == *i).unwrap();
            assert!(s.closed_ms.is_none(), "plan closes a closed shard");
            s.closed_ms = Some(1);
            s.end_offset = Some(0);
        }
        shards.extend(p.add);
    }

    /// The open shards tile [0, 2^128-1] exactly once, and lineage points only
    /// at older, closed shards whose ranges overlap the child.
    fn check_invariants(shards: &[ShardMeta]) {
        let mut open: Vec<(u128, u128)> = shards.iter().filter(|s| is_open(s)).map(range).collect();
        open.sort_unstable();
        assert_eq!(open.first().map(|r| r.0), Some(0));
        assert_eq!(open.last().map(|r| r.1), Some(u128::MAX));
        for w in open.windows(2) {
            assert_eq!(w[0].1 + 1, w[1].0, "gap or overlap between open shards");
        }
        for s in shards {
            for p in s.parent.iter().chain(s.adjacent_parent.iter()) {
                let parent = shards.iter().find(|x| x.index == *p).unwrap();
                assert!(parent.index < s.index, "lineage must point backwards");
                assert!(parent.closed_ms.is_some(), "a parent must be closed");
                let (a, b) = (range(parent), range(s));
                assert!(
                    a.0 <= b.1 && b.0 <= a.1,
                    "parent and child ranges must overlap"
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        assert!(
            shards.iter().all(|s| seen.insert(s.index)),
            "duplicate shard index"
        );
    }

    #[test]
    fn split_and_merge_shapes() {
        let mut s = initial(2);
        let mid = (1u128 << 126).to_string();
        let split = Reshard::Split {
            shard: 0,
            new_starting_hash_key: mid.clone(),
        };
        let p = plan(&s, 2, 5, &split);
        apply(&mut s, p);
        assert_eq!(s[2].ending_hash_key, ((1u128 << 126) - 1).to_string());
        assert_eq!(s[3].starting_hash_key, mid);
        assert_eq!((s[2].parent, s[3].parent), (Some(0), Some(0)));
        let p = plan(
            &s,
            4,
            6,
            &Reshard::Merge {
                shard: 3,
                adjacent: 1,
            },
        );
        apply(&mut s, p);
        assert_eq!((s[4].parent, s[4].adjacent_parent), (Some(3), Some(1)));
        assert_eq!(s[4].ending_hash_key, u128::MAX.to_string());
        check_invariants(&s);
    }

    #[test]
    fn uniform_scaling_doubles_and_halves_like_aws() {
        let mut s = initial(2);
        let p = plan(&s, 2, 5, &Reshard::UniformScaling { target: 4 });
        apply(&mut s, p);
        assert_eq!(s.iter().filter(|x| is_open(x)).count(), 4);
        assert_eq!(
            s.len(),
            6,
            "2 -> 4 is one split per shard, no intermediates"
        );
        check_invariants(&s);
        let n = s.len() as u32;
        let p = plan(&s, n, 6, &Reshard::UniformScaling { target: 2 });
        apply(&mut s, p);
        let open: Vec<_> = s.iter().filter(|x| is_open(x)).map(range).collect();
        assert_eq!(open, even_ranges(2));
        assert!(s
            .iter()
            .filter(|x| is_open(x))
            .all(|x| x.adjacent_parent.is_some()));
        check_invariants(&s);
    }

    #[test]
    fn same_count_changes_nothing() {
        let s = initial(3);
        assert_eq!(
            plan(&s, 3, 5, &Reshard::UniformScaling { target: 3 }),
            Plan::default()
        );
    }

    #[derive(Debug, Clone)]
    enum Step {
        Split(usize, u64),
        Merge(usize),
        Scale(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (any::<usize>(), any::<u64>()).prop_map(|(i, f)| Step::Split(i, f)),
            any::<usize>().prop_map(Step::Merge),
            (1u32..40).prop_map(Step::Scale),
        ]
    }

    proptest! {
        /// Any sequence of splits, merges and uniform scalings keeps the open
        /// shards an exact partition of the hash space and lineage acyclic.
        #[test]
        fn resharding_keeps_the_partition_exact(n in 1u32..8, steps in proptest::collection::vec(step(), 1..25)) {
            let mut s = initial(n);
            for st in steps {
                let mut open: Vec<ShardMeta> = s.iter().filter(|x| is_open(x)).cloned().collect();
                open.sort_by_key(|x| range(x).0);
                let next = s.iter().map(|x| x.index).max().unwrap() + 1;
                let op = match st {
                    Step::Split(i, f) => {
                        let sh = &open[i % open.len()];
                        let (a, b) = range(sh);
                        if b - a < 4 { continue; }
                        let k = a + 2 + (u128::from(f) % (b - a - 2));
                        if !(k > a + 1 && k < b) { continue; }
                        Reshard::Split { shard: sh.index, new_starting_hash_key: k.to_string() }
                    }
                    Step::Merge(i) => {
                        if open.len() < 2 { continue; }
                        let j = i % (open.len() - 1);
                        Reshard::Merge { shard: open[j + 1].index, adjacent: open[j].index }
                    }
                    Step::Scale(t) => {
                        let o = open.len() as u32;
                        if t > 2 * o || 2 * t < o { continue; }
                        Reshard::UniformScaling { target: t }
                    }
                };
                let p = plan(&s, next, 1, &op);
                apply(&mut s, p);
                check_invariants(&s);
                if let Reshard::UniformScaling { target } = op {
                    let mut open: Vec<(u128, u128)> = s.iter().filter(|x| is_open(x)).map(range).collect();
                    open.sort_unstable();
                    prop_assert_eq!(open, even_ranges(target));
                }
            }
        }
    }
}
