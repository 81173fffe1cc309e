//! The probes a socket engine has in flight, by slot, with their deadlines.
//!
//! The connect and UDP engines register each probe's socket with epoll
//! under a small integer, its slot, and find the probe again by it when the
//! socket is ready. [`Slots`] hands out those integers, reusing freed ones,
//! and keeps the deadlines in a min-heap. A slot's probe can complete while
//! deadlines pushed for it are still in the heap, and the slot can be taken
//! by the next probe meanwhile: each slot therefore carries a serial number,
//! bumped whenever it changes hands, and a deadline only counts while its
//! serial matches. Skipping stale entries when they surface is cheaper than
//! removing them from the heap when a probe completes.
//!
//! Nothing here allocates per probe: the slots, the free list and the heap
//! keep their capacity and reuse it as probes come and go.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::OwnedFd;
use std::time::Instant;

use rustix::event::epoll::{self, EventData, EventFlags};

/// Values in flight, each in a numbered slot with one or more deadlines.
pub(crate) struct Slots<T> {
    slots: Vec<Option<T>>,
    /// Slot numbers free for reuse.
    free: Vec<usize>,
    /// Per slot, bumped when a value enters or leaves it.
    serials: Vec<u64>,
    /// (deadline, slot, serial), earliest first; entries whose serial no
    /// longer matches their slot's are stale.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    live: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
            serials: Vec::new(),
            deadlines: BinaryHeap::new(),
            live: 0,
        }
    }
}

impl<T> Slots<T> {
    /// Values in flight.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Whether nothing is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Puts `value` in a free slot, due at `deadline`; returns the slot.
    pub(crate) fn insert(&mut self, value: T, deadline: Instant) -> usize {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.serials.push(0);
            self.slots.len() - 1
        });
        self.serials[slot] += 1;
        self.deadlines
            .push(Reverse((deadline, slot, self.serials[slot])));
        self.slots[slot] = Some(value);
        self.live += 1;
        slot
    }

    /// The value in `slot`, if any (an out-of-range slot has none).
    pub(crate) fn get(&self, slot: usize) -> Option<&T> {
        self.slots.get(slot)?.as_ref()
    }

    /// Takes the value out of `slot` and frees the slot; deadlines pushed
    /// for it become stale.
    pub(crate) fn take(&mut self, slot: usize) -> Option<T> {
        let value = self.slots.get_mut(slot)?.take()?;
        self.serials[slot] += 1;
        self.free.push(slot);
        self.live -= 1;
        Some(value)
    }

    /// Gives every value for which `deadline` returns one an additional,
    /// earlier or later, deadline; the earliest one to pass expires it.
    pub(crate) fn rearm(&mut self, mut deadline: impl FnMut(&T) -> Option<Instant>) {
        for (slot, value) in self.slots.iter().enumerate() {
            if let Some(at) = value.as_ref().and_then(&mut deadline) {
                self.deadlines.push(Reverse((at, slot, self.serials[slot])));
            }
        }
    }

    /// The earliest deadline in the heap. It may be stale, which only
    /// means a wake-up too early.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes out a value whose deadline has passed at `now`, skipping stale
    /// deadlines; `None` when no more have.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<T> {
        while let Some(&Reverse((at, slot, serial))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if self.serials[slot] != serial {
                continue;
            }
            if let Some(value) = self.take(slot) {
                return Some(value);
            }
        }
        None
    }
}

/// A probe whose socket waits for an answer.
pub(crate) struct InFlight<P> {
    pub(crate) fd: OwnedFd,
    pub(crate) probe: P,
    pub(crate) sent: Instant,
}

impl<P> Slots<InFlight<P>> {
    /// Puts a probe whose socket now waits for an answer in flight: in a
    /// slot, due at `deadline`, and watched by `epoll` for `interest` with
    /// the slot as the event's data.
    pub(crate) fn watch(
        &mut self,
        epoll: &OwnedFd,
        flight: InFlight<P>,
        deadline: Instant,
        interest: EventFlags,
    ) {
        let slot = self.insert(flight, deadline);
        let fd = &self.slots[slot].as_ref().expect("just inserted").fd;
        epoll::add(epoll, fd, EventData::new_u64(slot as u64), interest).expect("epoll_ctl add");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn slots_are_reused_and_stale_deadlines_skipped() {
        let t0 = Instant::now();
        let mut s = Slots::default();
        let a = s.insert('a', t0 + MS * 10);
        let b = s.insert('b', t0 + MS * 20);
        assert_ne!(a, b);
        assert_eq!(s.len(), 2);
        assert_eq!(s.take(a), Some('a'));
        assert_eq!(s.take(a), None, "taken once");
        // The freed slot goes to the next value; the old deadline at 10 ms
        // must not expire it.
        let c = s.insert('c', t0 + MS * 30);
        assert_eq!(c, a);
        assert_eq!(s.get(c), Some(&'c'));
        assert_eq!(s.next_deadline(), Some(t0 + MS * 10), "stale, still there");
        assert_eq!(s.pop_expired(t0 + MS * 25), Some('b'));
        assert_eq!(s.pop_expired(t0 + MS * 25), None);
        assert_eq!(s.pop_expired(t0 + MS * 30), Some('c'));
        assert!(s.is_empty());
        assert_eq!(s.get(99), None);
    }

    #[test]
    fn a_rearmed_value_expires_at_its_earliest_deadline_once() {
        let t0 = Instant::now();
        let mut s = Slots::default();
        s.insert(1, t0 + MS * 500);
        s.insert(2, t0 + MS * 500);
        s.rearm(|&v| (v == 1).then_some(t0 + MS * 5));
        assert_eq!(s.next_deadline(), Some(t0 + MS * 5));
        assert_eq!(s.pop_expired(t0 + MS * 5), Some(1));
        assert_eq!(s.pop_expired(t0 + MS * 5), None);
        assert_eq!(s.pop_expired(t0 + MS * 500), Some(2));
        assert_eq!(
            s.pop_expired(t0 + MS * 500),
            None,
            "1's first deadline is stale"
        );
        assert!(s.is_empty());
    }
}
