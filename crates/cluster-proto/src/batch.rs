//! Size-aware batching, used for every stream message of the mesh in both
//! directions: items (tasks, results, keys) are grouped into messages that
//! stay under the peer's message limit, however many or large they are.

/// Bytes kept free in every message for its envelope (the `oneof`, the
/// repeated field's own framing, gRPC's header): a batch's items add up to
/// at most `max_message_bytes - HEADROOM`.
pub const HEADROOM: usize = 1024;

/// Most items in one message, so one message never holds up a stream long.
pub const MAX_ITEMS: usize = 4096;

/// The bytes a batch's items may take in a message of `max_message_bytes`.
pub fn budget(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_sub(HEADROOM).max(1)
}

/// What an item of `len` encoded bytes costs inside a repeated field: its
/// bytes plus its tag and length prefix.
pub fn framed_len(len: usize) -> usize {
    len + 1 + prost::encoding::encoded_len_varint(len as u64)
}

/// Groups items into batches whose framed sizes stay within a budget. An
/// item larger than the budget travels alone (its sender checks sizes).
#[derive(Debug)]
pub struct Batcher<T> {
    budget: usize,
    max_items: usize,
    size: usize,
    items: Vec<T>,
}

impl<T> Batcher<T> {
    /// Batches for messages of at most `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Self {
        Self { budget: budget(max_message_bytes), max_items: MAX_ITEMS, size: 0, items: Vec::new() }
    }

    /// The same, with at most `max_items` items per batch (instead of
    /// [`MAX_ITEMS`]).
    pub fn with_max_items(self, max_items: usize) -> Self {
        Self { max_items: max_items.max(1), ..self }
    }

    /// Adds an item whose encoded length is `len`. If it does not fit in the
    /// current batch, that batch is returned, complete, and the item starts
    /// the next one.
    pub fn push(&mut self, item: T, len: usize) -> Option<Vec<T>> {
        let framed = framed_len(len);
        let full = self.is_full_for(len);
        let done = full.then(|| self.take());
        self.size += framed;
        self.items.push(item);
        done
    }

    /// Whether the current batch is full: no item of `len` bytes fits.
    pub fn is_full_for(&self, len: usize) -> bool {
        !self.items.is_empty()
            && (self.size + framed_len(len) > self.budget || self.items.len() >= self.max_items)
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The batch so far (possibly empty), leaving the batcher empty.
    pub fn take(&mut self) -> Vec<T> {
        self.size = 0;
        std::mem::take(&mut self.items)
    }
}

/// Splits `items` into batches for messages of at most `max_message_bytes`,
/// `len` giving each item's encoded length. Keeps the order.
pub fn split<T>(
    items: impl IntoIterator<Item = T>,
    max_message_bytes: usize,
    len: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let mut batcher = Batcher::new(max_message_bytes);
    let mut batches = Vec::new();
    for item in items {
        let n = len(&item);
        batches.extend(batcher.push(item, n));
    }
    if !batcher.is_empty() {
        batches.push(batcher.take());
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ResultBatch, TaskResult};
    use prost::Message;

    fn result(id: u64, worker_bytes: usize) -> TaskResult {
        TaskResult { id, worker: "w".repeat(worker_bytes), ..TaskResult::default() }
    }

    #[test]
    fn every_batch_encodes_under_the_limit_and_order_is_kept() {
        let limit = 64 * 1024;
        let results: Vec<_> = (0..500).map(|i| result(i, (i as usize * 37) % 3000)).collect();
        let batches = split(results, limit, |r| r.encoded_len());
        assert!(batches.len() > 1, "500 results of up to 3 KB need several 64 KiB messages");
        let mut next = 0;
        for results in batches {
            let message = ResultBatch { results };
            assert!(message.encoded_len() <= budget(limit), "{} bytes", message.encoded_len());
            for r in &message.results {
                assert_eq!(r.id, next);
                next += 1;
            }
        }
        assert_eq!(next, 500);
    }

    #[test]
    fn many_tiny_items_are_capped_by_count() {
        let batches = split(0..10_000u64, 1 << 30, |_| 1);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [MAX_ITEMS, MAX_ITEMS, 10_000 - 2 * MAX_ITEMS]
        );
    }

    #[test]
    fn an_item_over_the_budget_travels_alone() {
        let batches = split([10, 5000, 10], 2048, |&n| n);
        assert_eq!(batches, [vec![10], vec![5000], vec![10]]);
    }

    #[test]
    fn push_hands_back_the_full_batch() {
        let mut batcher = Batcher::new(HEADROOM + 20);
        // 9 bytes take 11 framed: two fit in 22, not in 20.
        assert_eq!(batcher.push('a', 9), None);
        assert!(batcher.is_full_for(9));
        assert_eq!(batcher.push('b', 9), Some(vec!['a']));
        assert_eq!(batcher.take(), ['b']);
        assert!(batcher.is_empty());
    }
}
