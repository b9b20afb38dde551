//! The memory tier: originals in an LRU bounded by the bytes of their content.
//!
//! Must never: hold more than its byte bound (an original bigger than the bound is not kept),
//! or do I/O.

use super::Original;
use std::collections::{BTreeMap, HashMap};

pub struct MemoryTier {
    max_bytes: u64,
    bytes: u64,
    tick: u64,
    entries: HashMap<String, (Original, u64)>,
    /// Recency order: tick → id (oldest first).
    order: BTreeMap<u64, String>,
}

impl MemoryTier {
    pub fn new(max_bytes: u64) -> MemoryTier {
        MemoryTier {
            max_bytes,
            bytes: 0,
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn cost(o: &Original) -> u64 {
        (o.content.len() + o.id.len() + o.compressor.len()) as u64
    }

    /// Inserts (or refreshes) an original; returns whether it was already held.
    pub fn insert(&mut self, original: Original) -> bool {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, t)) = self.entries.get_mut(&original.id) {
            self.order.remove(t);
            *t = tick;
            self.order.insert(tick, original.id);
            return true;
        }
        let cost = Self::cost(&original);
        if cost > self.max_bytes {
            return false;
        }
        while self.bytes + cost > self.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((o, _)) = self.entries.remove(&oldest) {
                self.bytes -= Self::cost(&o);
            }
        }
        self.bytes += cost;
        self.order.insert(tick, original.id.clone());
        self.entries.insert(original.id.clone(), (original, tick));
        false
    }

    pub fn get(&mut self, id: &str) -> Option<Original> {
        self.tick += 1;
        let tick = self.tick;
        let (o, t) = self.entries.get_mut(id)?;
        self.order.remove(t);
        *t = tick;
        self.order.insert(tick, id.to_string());
        Some(o.clone())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original(id: &str, size: usize) -> Original {
        Original {
            id: id.into(),
            content: "x".repeat(size).into(),
            compressor: "log".into(),
        }
    }

    #[test]
    fn evicts_the_least_recently_used_to_stay_under_its_bytes() {
        let mut m = MemoryTier::new(3 * 110);
        for id in ["a", "b", "c"] {
            m.insert(original(id, 100));
        }
        assert!(m.get("a").is_some()); // a is now the newest
        m.insert(original("d", 100));
        assert!(m.get("b").is_none());
        assert!(m.get("a").is_some() && m.get("c").is_some() && m.get("d").is_some());
        assert!(m.bytes() <= 330);
        m.insert(original("huge", 1000));
        assert!(m.get("huge").is_none());
        assert_eq!(m.len(), 3);
    }
}
