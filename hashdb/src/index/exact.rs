//! Exact-match sets for cryptographic digests.
//!
//! MD5/SHA-256/BLAKE3 match only when equal, so a hash map is the whole
//! index. Several items may share a digest (the same file in two lists).

use std::collections::HashMap;
use std::hash::Hash;

/// Digest -> items holding it.
#[derive(Debug, Clone)]
pub struct ExactIndex<K, T> {
    map: HashMap<K, Vec<T>>,
    len: usize,
}

impl<K, T> Default for ExactIndex<K, T> {
    fn default() -> Self {
        ExactIndex {
            map: HashMap::new(),
            len: 0,
        }
    }
}

impl<K: Hash + Eq, T: Copy> ExactIndex<K, T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `item` under `key`.
    pub fn insert(&mut self, key: K, item: T) {
        self.map.entry(key).or_default().push(item);
        self.len += 1;
    }

    /// Remove the items under `key` that satisfy `pred`; returns how many.
    pub fn remove(&mut self, key: &K, mut pred: impl FnMut(&T) -> bool) -> usize {
        let Some(items) = self.map.get_mut(key) else {
            return 0;
        };
        let before = items.len();
        items.retain(|t| !pred(t));
        let removed = before - items.len();
        if items.is_empty() {
            self.map.remove(key);
        }
        self.len -= removed;
        removed
    }

    /// Items stored under `key`.
    pub fn get(&self, key: &K) -> &[T] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The keys holding an item that satisfies `pred` (a scan of the
    /// whole set: for a list leaving the matcher).
    pub fn keys_where(&self, mut pred: impl FnMut(&T) -> bool) -> Vec<K>
    where
        K: Clone,
    {
        self.map
            .iter()
            .filter(|(_, items)| items.iter().any(&mut pred))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let mut e: ExactIndex<[u8; 2], u32> = ExactIndex::new();
        e.insert([1, 2], 10);
        e.insert([1, 2], 11);
        e.insert([3, 4], 12);
        assert_eq!(e.get(&[1, 2]), &[10, 11]);
        assert_eq!(e.remove(&[1, 2], |&t| t == 10), 1);
        assert_eq!(e.get(&[1, 2]), &[11]);
        assert_eq!(e.len(), 2);
        assert!(e.get(&[9, 9]).is_empty());
    }
}
