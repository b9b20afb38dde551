//! A bounded least-recently-used map from a block's content hash to its compression result, so
//! a conversation re-sent every turn only pays for its new blocks.
//!
//! Must never: grow past its capacity, or hold a lock while compressing (callers look up,
//! release, compress, then insert).

use std::collections::{BTreeMap, HashMap};

pub struct Lru<V> {
    capacity: usize,
    tick: u64,
    map: HashMap<u128, (u64, V)>,
    order: BTreeMap<u64, u128>,
}

impl<V: Clone> Lru<V> {
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            tick: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&mut self, key: u128) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let (used, value) = self.map.get_mut(&key)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, key);
        Some(value.clone())
    }

    pub fn insert(&mut self, key: u128, value: V) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        if let Some((used, _)) = self.map.remove(&key) {
            self.order.remove(&used);
        }
        while self.map.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
        self.map.insert(key, (self.tick, value));
        self.order.insert(self.tick, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_entry() {
        let mut lru = Lru::new(2);
        lru.insert(1, "a");
        lru.insert(2, "b");
        assert_eq!(lru.get(1), Some("a"));
        lru.insert(3, "c");
        assert_eq!(lru.get(2), None);
        assert_eq!(lru.get(1), Some("a"));
        assert_eq!(lru.get(3), Some("c"));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn zero_capacity_stores_nothing() {
        let mut lru = Lru::new(0);
        lru.insert(1, 1);
        assert!(lru.is_empty());
    }
}
