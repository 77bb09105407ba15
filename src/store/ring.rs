//! One room's retained messages: the newest `keep`, oldest first.
//!
//! Rule kept: messages live in blocks of up to [`BLOCK`] behind an `Arc`, and a
//! block is never changed while anything else holds it. So a compaction
//! snapshot of a room ([`Ring::runs`]) is one `Arc` clone per block rather
//! than per message, taken under the caller's lock, and the ring goes on
//! (appending starts a fresh block; dropping the oldest only moves `skip`)
//! while the syncer thread writes the snapshot out.

use super::history::Message;
use std::collections::VecDeque;
use std::sync::Arc;

/// Messages per block.
pub const BLOCK: usize = 64;

/// A room's newest messages.
#[derive(Debug)]
pub struct Ring {
    /// Full (or snapshotted) blocks, oldest first; never empty blocks.
    sealed: VecDeque<Arc<Vec<Message>>>,
    /// The block being appended to, after the sealed ones.
    tail: Arc<Vec<Message>>,
    /// Leading messages of the first block that are no longer retained.
    skip: usize,
    len: usize,
    /// On-disk bytes of the retained messages' records.
    bytes: u64,
}

/// Part of a block, shared with a compaction snapshot.
#[derive(Debug, Clone)]
pub struct Run {
    block: Arc<Vec<Message>>,
    start: usize,
}

impl Run {
    pub fn messages(&self) -> &[Message] {
        self.block.get(self.start..).unwrap_or(&[])
    }
}

impl Ring {
    pub fn new() -> Ring {
        Ring {
            sealed: VecDeque::new(),
            tail: Arc::new(Vec::new()),
            skip: 0,
            len: 0,
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The on-disk size of the retained messages' records.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The newest message.
    #[cfg(test)]
    pub fn last(&self) -> Option<&Message> {
        self.tail.last().or_else(|| self.sealed.back()?.last())
    }

    /// Adds a message whose record takes `overhead + from + text` bytes,
    /// first dropping the oldest so that at most `keep` (at least 1) remain;
    /// `total` (the bytes of all rooms) changes as [`bytes`](Ring::bytes) does.
    pub fn push(&mut self, msg: Message, keep: usize, overhead: u64, total: &mut u64) -> &Message {
        let before = self.bytes;
        while self.len >= keep.max(1) && self.drop_oldest(overhead) {}
        if self.tail.len() >= BLOCK || Arc::strong_count(&self.tail) > 1 {
            let full = std::mem::replace(&mut self.tail, Arc::new(Vec::with_capacity(BLOCK)));
            if !full.is_empty() {
                self.sealed.push_back(full);
            }
        }
        self.len += 1;
        self.bytes += size(&msg, overhead);
        *total = total.saturating_sub(before) + self.bytes;
        // The tail is now held by nothing else, so this does not clone.
        let tail = Arc::make_mut(&mut self.tail);
        if tail.capacity() == 0 {
            tail.reserve_exact(BLOCK);
        }
        tail.push(msg);
        let newest = tail.len() - 1;
        &tail[newest]
    }

    /// Drops the oldest message; false if there was none.
    fn drop_oldest(&mut self, overhead: u64) -> bool {
        let Some(oldest) = self.part(0).first() else {
            return false;
        };
        self.bytes = self.bytes.saturating_sub(size(oldest, overhead));
        self.len -= 1;
        self.skip += 1;
        if self.part(0).is_empty() {
            if self.sealed.pop_front().is_none() {
                self.tail = Arc::new(Vec::new());
            }
            self.skip = 0;
        }
        true
    }

    fn parts(&self) -> usize {
        self.sealed.len() + 1
    }

    /// The retained messages of block `i` (the tail is the last block).
    fn part(&self, i: usize) -> &[Message] {
        let block = match self.sealed.get(i) {
            Some(block) => block,
            None => &self.tail,
        };
        let start = if i == 0 { self.skip } else { 0 };
        block.get(start..).unwrap_or(&[])
    }

    /// The newest `n` messages, oldest first.
    pub fn recent(&self, n: usize) -> impl Iterator<Item = &Message> + '_ {
        let mut remaining = n.min(self.len);
        let (mut first, mut from) = (self.parts(), 0);
        while remaining > 0 && first > 0 {
            first -= 1;
            let part = self.part(first);
            if part.len() >= remaining {
                from = part.len() - remaining;
                remaining = 0;
            } else {
                remaining -= part.len();
                from = 0;
            }
        }
        (first..self.parts()).flat_map(move |i| {
            let start = if i == first { from } else { 0 };
            self.part(i).get(start..).unwrap_or(&[]).iter()
        })
    }

    /// The retained messages as shared runs, for a snapshot. Appending after
    /// this starts a new block, so the runs never change.
    pub fn runs(&self) -> Vec<Run> {
        let blocks = self.sealed.iter().chain(std::iter::once(&self.tail));
        blocks
            .enumerate()
            .map(|(i, block)| Run {
                block: Arc::clone(block),
                start: if i == 0 { self.skip } else { 0 },
            })
            .filter(|run| !run.messages().is_empty())
            .collect()
    }
}

fn size(msg: &Message, overhead: u64) -> u64 {
    overhead + msg.from.len() as u64 + msg.text.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64) -> Message {
        Message {
            seq,
            time_ms: seq * 10,
            from: "u".into(),
            text: format!("m{seq}"),
        }
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Message>) -> Vec<u64> {
        it.map(|m| m.seq).collect()
    }

    #[test]
    fn keeps_the_newest() {
        for keep in [1, 2, 5, 63, 64, 65, 200] {
            let mut ring = Ring::new();
            let mut total = 5;
            for seq in 1..=300u64 {
                assert_eq!(ring.push(msg(seq), keep, 10, &mut total).seq, seq);
                let kept = (seq as usize).min(keep);
                assert_eq!(ring.len(), kept);
                let all = seqs(ring.recent(usize::MAX));
                assert_eq!(all, (seq + 1 - kept as u64..=seq).collect::<Vec<_>>());
                let bytes: u64 = ring.recent(usize::MAX).map(|m| size(m, 10)).sum();
                assert_eq!(ring.bytes(), bytes);
                assert_eq!(total, bytes + 5);
                assert_eq!(ring.last().map(|m| m.seq), Some(seq));
                for n in [0, 1, 3, kept, kept + 1] {
                    let want: Vec<u64> = all[all.len() - n.min(kept)..].to_vec();
                    assert_eq!(seqs(ring.recent(n)), want, "keep {keep} seq {seq} n {n}");
                }
            }
            assert!(ring.sealed.len() <= keep / BLOCK + 2);
        }
        assert_eq!(Ring::new().recent(5).count(), 0);
        assert!(Ring::new().last().is_none());
    }

    #[test]
    fn snapshot_runs_do_not_change() {
        let mut ring = Ring::new();
        let mut total = 0;
        for seq in 1..=100 {
            ring.push(msg(seq), 70, 10, &mut total);
        }
        let runs = ring.runs();
        let snap: Vec<u64> = runs
            .iter()
            .flat_map(|r| seqs(r.messages().iter()))
            .collect();
        assert_eq!(snap, (31..=100).collect::<Vec<_>>());
        for seq in 101..=300 {
            ring.push(msg(seq), 70, 10, &mut total);
            let again: Vec<u64> = runs
                .iter()
                .flat_map(|r| seqs(r.messages().iter()))
                .collect();
            assert_eq!(again, snap);
        }
        assert_eq!(
            seqs(ring.recent(usize::MAX)),
            (231..=300).collect::<Vec<_>>()
        );
        // A snapshot, then a push: the shared tail is sealed, not copied.
        let runs = ring.runs();
        ring.push(msg(301), 70, 10, &mut total);
        let snap: Vec<u64> = runs
            .iter()
            .flat_map(|r| seqs(r.messages().iter()))
            .collect();
        assert_eq!(snap, (231..=300).collect::<Vec<_>>());
        assert_eq!(seqs(ring.recent(3)), [299, 300, 301]);
    }
}
