//! The task table: a generational slab. Keys are slot index plus a
//! generation, so a slot can be reused while a late result for its previous
//! task (same index, older generation) is still recognised as late. Compared
//! with a HashMap this halves the memory per queued task and never rehashes.

use super::TaskKey;

enum Slot<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: Option<u32> },
}

/// Values by `TaskKey`.
pub(super) struct Table<T> {
    slots: Vec<Slot<T>>,
    free: Option<u32>,
    len: usize,
    /// Generation of newly made slots: above every generation used before
    /// the table was last emptied, so no old key can match a new task.
    floor: u32,
    /// Highest generation used so far.
    top: u32,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: None, len: 0, floor: 0, top: 0 }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("len", &self.len).field("slots", &self.slots.len()).finish()
    }
}

fn key(index: u32, generation: u32) -> TaskKey {
    TaskKey(u64::from(generation) << 32 | u64::from(index))
}

fn split(key: TaskKey) -> (usize, u32) {
    ((key.0 & 0xffff_ffff) as usize, (key.0 >> 32) as u32)
}

impl<T> Table<T> {
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn insert(&mut self, value: T) -> TaskKey {
        self.len += 1;
        if let Some(index) = self.free {
            let slot = &mut self.slots[index as usize];
            if let Slot::Vacant { generation, next_free } = *slot {
                self.free = next_free;
                *slot = Slot::Occupied { generation, value };
                return key(index, generation);
            }
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot::Occupied { generation: self.floor, value });
        key(index, self.floor)
    }

    pub(super) fn get(&self, key: TaskKey) -> Option<&T> {
        let (index, generation) = split(key);
        match self.slots.get(index) {
            Some(Slot::Occupied { generation: g, value }) if *g == generation => Some(value),
            _ => None,
        }
    }

    pub(super) fn get_mut(&mut self, key: TaskKey) -> Option<&mut T> {
        let (index, generation) = split(key);
        match self.slots.get_mut(index) {
            Some(Slot::Occupied { generation: g, value }) if *g == generation => Some(value),
            _ => None,
        }
    }

    #[cfg(test)]
    fn contains(&self, key: TaskKey) -> bool {
        self.get(key).is_some()
    }

    pub(super) fn remove(&mut self, key: TaskKey) -> Option<T> {
        let (index, generation) = split(key);
        match self.slots.get(index) {
            Some(Slot::Occupied { generation: g, .. }) if *g == generation => {}
            _ => return None,
        }
        let next = generation.wrapping_add(1);
        self.top = self.top.max(next);
        let vacant = Slot::Vacant { generation: next, next_free: self.free };
        let Slot::Occupied { value, .. } = std::mem::replace(&mut self.slots[index], vacant) else {
            return None;
        };
        self.free = Some(index as u32);
        self.len -= 1;
        if self.len == 0 {
            // A drained table gives its memory back; new slots start above
            // every generation used, so late results stay recognisably late.
            let floor = self.top.wrapping_add(1);
            *self = Self { floor, top: floor, ..Self::default() };
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slots_do_not_answer_to_old_keys() {
        let mut table = Table::default();
        let a = table.insert("a");
        let b = table.insert("b");
        assert_eq!(table.remove(a), Some("a"));
        let c = table.insert("c");
        assert_ne!(a, c, "same slot, new generation");
        assert_eq!(table.get(a), None);
        assert_eq!(table.get(c), Some(&"c"));
        assert_eq!(table.remove(a), None);
        table.remove(b);
        assert!(!table.contains(b));
        assert_eq!(table.len(), 1);
        // Emptied and refilled: none of the old keys matches.
        table.remove(c);
        let d = table.insert("d");
        assert!(![a, b, c].contains(&d), "{d:?}");
        assert_eq!(table.get(a), None);
    }
}
