//! Which dedup entries a partition's local store may hold, so that a batch reads the store only
//! for the events it may have seen: most events are new, and a store read each costs more than
//! the rest of their work.
//!
//! A 32-bit fingerprint of each dedup index key, counted once per dedup row that holds it: a row
//! adds its key's count when a batch applies a new event or when recovery reads the row, and
//! takes it away when its day's rows are deleted. A key whose fingerprint is absent is not in
//! the store; a present one may be (or another key shares it), and the store decides.

use std::hash::Hasher;

use rustc_hash::{FxHashMap as HashMap, FxHasher};

#[derive(Default)]
pub struct SeenFilter {
    counts: HashMap<u32, u32>,
}

fn fingerprint(key: &[u8]) -> u32 {
    let mut hasher = FxHasher::default();
    hasher.write(key);
    (hasher.finish() >> 32) as u32
}

impl SeenFilter {
    /// Whether the store may hold `key`: false only if it does not.
    pub fn may_hold(&self, key: &[u8]) -> bool {
        self.counts.contains_key(&fingerprint(key))
    }

    /// One more dedup row holds `key`.
    pub fn add(&mut self, key: &[u8]) {
        *self.counts.entry(fingerprint(key)).or_insert(0) += 1;
    }

    /// One dedup row that held `key` is gone.
    pub fn remove(&mut self, key: &[u8]) {
        let print = fingerprint(key);
        if let Some(count) = self.counts.get_mut(&print) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&print);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_key_is_said_absent_and_an_added_one_present() {
        let mut filter = SeenFilter::default();
        assert!(!filter.may_hold(b"e|0|a"));
        filter.add(b"e|0|a");
        assert!(filter.may_hold(b"e|0|a"));
    }

    #[test]
    fn a_key_held_by_two_rows_stays_until_both_are_gone() {
        let mut filter = SeenFilter::default();
        filter.add(b"k");
        filter.add(b"k");
        filter.remove(b"k");
        assert!(filter.may_hold(b"k"));
        filter.remove(b"k");
        assert!(!filter.may_hold(b"k"));
    }

    #[test]
    fn removing_a_key_never_added_changes_nothing() {
        let mut filter = SeenFilter::default();
        filter.add(b"k");
        filter.remove(b"other");
        assert!(filter.may_hold(b"k"));
    }
}
