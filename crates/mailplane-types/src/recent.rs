//! A bounded map that keeps the entries in use and lets the others go.
//!
//! Two caches need one: the keyring's verified tokens and the store's read cache of tenants
//! and mailboxes. Both must hold a fixed most of entries whatever the traffic, and both
//! should keep what is asked for again and again. This map does both at the cost of two hash
//! lookups, with no list to maintain on every hit.

use std::collections::HashMap;
use std::hash::Hash;

/// A map of at most `capacity` entries, in two generations of at most half the capacity
/// each. New entries go into the current generation; when it is full it becomes the previous
/// one, and the old previous one is dropped. A hit in the previous generation moves the entry
/// back into the current one, so entries in use stay while entries nobody asks for any more
/// leave. A capacity of 0 holds nothing; a capacity of 1 keeps the current generation only.
#[derive(Debug, Clone)]
pub struct RecentMap<K, V> {
    capacity: usize,
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
}

impl<K: Hash + Eq + Clone, V> RecentMap<K, V> {
    /// An empty map that will hold at most `capacity` entries.
    pub fn new(capacity: usize) -> RecentMap<K, V> {
        RecentMap {
            capacity,
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }

    /// The most entries the map holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The entry of `key`, moved into the current generation when it was in the previous.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        if !self.current.contains_key(key) {
            let value = self.previous.remove(key)?;
            self.insert(key.clone(), value);
        }
        self.current.get(key)
    }

    /// Adds or replaces the entry of `key`, in the current generation.
    pub fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        // Each generation holds at most half the capacity, so both together hold at most
        // the capacity.
        let half = (self.capacity / 2).max(1);
        if !self.current.contains_key(&key) && self.current.len() >= half {
            self.previous = std::mem::take(&mut self.current);
            if self.capacity < 2 {
                self.previous.clear();
            }
        }
        self.previous.remove(&key);
        self.current.insert(key, value);
    }

    /// Removes the entry of `key`, wherever it is.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.current
            .remove(key)
            .or_else(|| self.previous.remove(key))
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.current.clear();
        self.previous.clear();
    }

    /// How many entries the map holds.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether the map holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_its_capacity() {
        for capacity in [0, 1, 2, 3, 10] {
            let mut map = RecentMap::new(capacity);
            for i in 0..100 {
                map.insert(i, i * 2);
                assert!(map.len() <= capacity, "capacity {capacity}: {}", map.len());
            }
            // The entry just inserted is held whenever anything is.
            assert_eq!(map.get(&99).copied(), (capacity > 0).then_some(198));
        }
    }

    #[test]
    fn an_entry_in_use_stays_while_the_others_leave() {
        let mut map = RecentMap::new(4);
        map.insert("kept", 0);
        for i in 0..50 {
            // Asked for between every two insertions, it moves back into the current
            // generation each time it falls into the previous one.
            assert_eq!(map.get(&"kept"), Some(&0), "after {i} insertions");
            map.insert(if i % 2 == 0 { "a" } else { "b" }, i);
            map.insert(if i % 2 == 0 { "c" } else { "d" }, i);
        }
        let mut unused = RecentMap::new(4);
        unused.insert("gone", 0);
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            unused.insert(key, i);
        }
        assert_eq!(unused.get(&"gone"), None);
    }

    #[test]
    fn replacing_and_removing_touch_one_entry() {
        let mut map = RecentMap::new(4);
        map.insert(1, "one");
        map.insert(2, "two");
        map.insert(3, "three");
        // 1 and 2 are in the previous generation now; replacing 1 moves it, not copies it.
        map.insert(1, "uno");
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&1), Some(&"uno"));
        assert_eq!(map.remove(&2), Some("two"));
        assert_eq!(map.get(&2), None);
        map.clear();
        assert!(map.is_empty());
    }
}
