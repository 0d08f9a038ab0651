//! The bound on a script's memory as a whole. Rhai bounds each value (string bytes,
//! list items, map entries, nested values counted together); this meter adds up what
//! the script holds at once (its variables, including those of the functions it is in,
//! and its binding variables) as variables are read, and fails the script when the
//! total passes the limit. A Rhai function sees only its own scope, so what the
//! calls below it held is remembered from their own last definitions.
//!
//! Measuring walks the values, so it is amortized: after a walk that visited `n` items,
//! the next `n / WALK_SHARE` reads are not measured (small scopes are measured at every
//! read).

use crate::runtime::limits::too_large;
use crate::runtime::types::RtResult;
use rhai::Dynamic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Reads between two walks, per item the last walk visited.
const WALK_SHARE: usize = 64;

/// Nesting followed when measuring; deeper values (only reachable through shared cells)
/// are not counted.
const MAX_DEPTH: usize = 64;

/// Bytes of a value slot (Rhai's `Dynamic`).
const SLOT: usize = std::mem::size_of::<Dynamic>();

/// Bytes counted per map entry besides its key and value (the tree node).
const MAP_ENTRY: usize = 48;

/// A running total of what one evaluation holds.
#[derive(Debug)]
pub(crate) struct MemoryMeter {
    limit: usize,
    reads: AtomicUsize,
    next_walk: AtomicUsize,
    /// Bytes the scope of each function call level held when it was last measured: a
    /// Rhai function sees only its own scope, so the levels below are remembered.
    frames: Mutex<Vec<usize>>,
}

/// What a walk found: approximate bytes, and how many items it visited.
#[derive(Clone, Copy, Default)]
pub(crate) struct Measure {
    pub bytes: usize,
    pub items: usize,
}

impl MemoryMeter {
    /// `limit` 0 means no limit.
    pub fn new(limit: usize) -> Self {
        MemoryMeter {
            limit,
            reads: AtomicUsize::new(0),
            next_walk: AtomicUsize::new(0),
            frames: Mutex::new(Vec::new()),
        }
    }

    /// Called at each variable read at function call level `level`: measures the
    /// current scope with `scope` and the binding with `binding` when it is time to, and
    /// fails when everything held is over the limit.
    pub fn on_read(
        &self,
        level: usize,
        scope: impl FnOnce(&mut Measure, usize),
        binding: impl FnOnce(&mut Measure, usize),
    ) -> RtResult<()> {
        if self.limit == 0 {
            return Ok(());
        }
        let reads = self.reads.fetch_add(1, Ordering::Relaxed);
        if reads < self.next_walk.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut frames = self.frames.lock().unwrap_or_else(PoisonError::into_inner);
        // Running at `level` means every deeper call has returned.
        frames.resize(level + 1, 0);
        let below: usize = frames.iter().take(level).sum();
        let mut own = Measure::default();
        scope(&mut own, self.limit);
        frames[level] = own.bytes;
        let mut total = Measure {
            bytes: below.saturating_add(own.bytes),
            items: own.items,
        };
        binding(&mut total, self.limit);
        self.next_walk
            .store(reads + 1 + total.items / WALK_SHARE, Ordering::Relaxed);
        if total.bytes > self.limit {
            return too_large(format!(
                "the script's values take more than {} bytes at once, over the script memory limit of {} bytes",
                total.bytes, self.limit
            ));
        }
        Ok(())
    }
}

impl Measure {
    /// Adds a value; stops early once past `limit`.
    pub fn add(&mut self, d: &Dynamic, limit: usize) {
        self.add_at(d, limit, 0);
    }

    fn add_at(&mut self, d: &Dynamic, limit: usize, depth: usize) {
        self.items += 1;
        self.bytes = self.bytes.saturating_add(SLOT);
        if self.bytes > limit || depth > MAX_DEPTH {
            return;
        }
        if d.is_shared() {
            // A cell locked right now belongs to code that is running; skip it rather
            // than wait on it from the same thread.
            if !d.is_locked() {
                if let Some(inner) = d.read_lock::<Dynamic>() {
                    self.add_at(&inner, limit, depth + 1);
                }
            }
            return;
        }
        // `is_*` first: the `as_*_ref` of another type builds an error naming the type.
        if d.is_string() {
            if let Ok(s) = d.as_immutable_string_ref() {
                self.bytes = self.bytes.saturating_add(s.len());
            }
        } else if d.is_array() {
            let Ok(items) = d.as_array_ref() else { return };
            for x in items.iter() {
                self.add_at(x, limit, depth + 1);
                if self.bytes > limit {
                    return;
                }
            }
        } else if d.is_map()
            && let Ok(map) = d.as_map_ref()
        {
            for (k, v) in map.iter() {
                self.bytes = self.bytes.saturating_add(MAP_ENTRY + k.len());
                self.add_at(v, limit, depth + 1);
                if self.bytes > limit {
                    return;
                }
            }
        }
    }
}
