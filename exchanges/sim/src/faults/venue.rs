//! Faults inside the venue actor, where events are made: depth update-id gaps and duplicated
//! or reordered user events.
//!
//! A depth gap is a real jump in the published counter: the symbol's published ids move
//! `skip` ahead of the engine's for good, so the gapped diff has `U = previous u + 1 + skip`,
//! later diffs are contiguous again, and REST depth (`lastUpdateId`) uses the same shifted
//! counter, so the venue's documented resync procedure works.
//!
//! Reordering buffers each account's events and emits a window at once in a shuffled order
//! (never the original one); a partial window goes out after [`REORDER_HOLD`] or when the
//! fault ends, so no event is ever lost.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::SimFaults;
use crate::bus::Bus;
use crate::engine::{AccountId, SymbolId};
use crate::feed::{DepthSnapshot, Published};

/// Longest time a partial reorder window waits for more events.
const REORDER_HOLD: Duration = Duration::from_millis(500);

/// The venue's fault state: per-symbol id offsets and held user events.
#[derive(Debug)]
pub(crate) struct VenueFaults {
    faults: SimFaults,
    offsets: Vec<u64>,
    held: BTreeMap<AccountId, (Instant, Vec<String>)>,
}

impl VenueFaults {
    pub fn new(faults: SimFaults) -> Self {
        Self {
            faults,
            offsets: Vec::new(),
            held: BTreeMap::new(),
        }
    }

    fn offset(&self, symbol: SymbolId) -> u64 {
        self.offsets.get(symbol.0).copied().unwrap_or(0)
    }

    /// Applies gaps to this publication and shifts every diff into the published counter.
    pub fn shift_depth(&mut self, published: &mut Published) {
        if self.faults.any() {
            let symbols: Vec<SymbolId> = published.fast.iter().map(|d| d.symbol).collect();
            for (symbol, skip) in self.faults.depth_gaps(&symbols) {
                if self.offsets.len() <= symbol.0 {
                    self.offsets.resize(symbol.0 + 1, 0);
                }
                self.offsets[symbol.0] = self.offsets[symbol.0].saturating_add(skip);
            }
        }
        for diff in published.fast.iter_mut().chain(published.slow.iter_mut()) {
            let offset = self.offset(diff.symbol);
            diff.first = diff.first.saturating_add(offset);
            diff.last = diff.last.saturating_add(offset);
        }
    }

    /// REST depth in the published counter.
    pub fn shift_snapshot(
        &self,
        symbol: SymbolId,
        snapshot: Option<DepthSnapshot>,
    ) -> Option<DepthSnapshot> {
        snapshot.map(|mut snapshot| {
            snapshot.last_update_id = snapshot.last_update_id.saturating_add(self.offset(symbol));
            snapshot
        })
    }

    /// Publishes one user event, subject to `reorder_user_events` and
    /// `duplicate_user_events`.
    pub fn publish_user(&mut self, bus: &Bus, account: AccountId, json: String) {
        if !self.faults.any() && self.held.is_empty() {
            bus.publish_user(account, json);
            return;
        }
        match self.faults.reorder_window() {
            Some(window) => {
                let (_, events) = self
                    .held
                    .entry(account)
                    .or_insert_with(|| (Instant::now(), Vec::new()));
                events.push(json);
                if events.len() >= window {
                    self.release(bus, |a, _| a == account);
                }
            }
            None => {
                self.release(bus, |_, _| true);
                self.emit(bus, account, json);
            }
        }
    }

    /// Releases partial windows that waited long enough, or all once the fault is over.
    pub fn tick(&mut self, bus: &Bus) {
        if self.held.is_empty() {
            return;
        }
        let over = self.faults.reorder_window().is_none();
        self.release(bus, |_, since| over || since.elapsed() >= REORDER_HOLD);
    }

    fn release(&mut self, bus: &Bus, due: impl Fn(AccountId, Instant) -> bool) {
        let accounts: Vec<AccountId> = self
            .held
            .iter()
            .filter(|(account, (since, _))| due(**account, *since))
            .map(|(account, _)| *account)
            .collect();
        for account in accounts {
            let Some((_, mut events)) = self.held.remove(&account) else {
                continue;
            };
            self.faults.shuffle(&mut events);
            for json in events {
                self.emit(bus, account, json);
            }
        }
    }

    fn emit(&self, bus: &Bus, account: AccountId, json: String) {
        if self.faults.duplicate_user() {
            bus.publish_user(account, json.clone());
        }
        bus.publish_user(account, json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::clock::Clock;
    use crate::config::SimConfig;
    use crate::engine::Catalog;
    use crate::faults::{DepthGap, FaultSpec, ReorderUserEvents};
    use crate::feed::DepthDiff;
    use crate::stats::Stats;

    fn faults() -> SimFaults {
        let catalog = Arc::new(Catalog::new(
            &SimConfig::default().symbols,
            std::iter::empty(),
        ));
        let stats = Arc::new(Stats::default());
        SimFaults::new(
            catalog,
            Clock::default(),
            stats,
            1,
            Default::default(),
            Default::default(),
        )
    }

    fn diff(first: u64, last: u64) -> DepthDiff {
        DepthDiff {
            symbol: SymbolId(0),
            first,
            last,
            bids: vec![],
            asks: vec![],
        }
    }

    #[tokio::test]
    async fn one_shot_gap_shifts_ids_for_good() {
        let faults = faults();
        let mut venue = VenueFaults::new(faults.clone());
        let gap = DepthGap {
            skip: 5,
            ..DepthGap::default()
        };
        faults.inject(FaultSpec::DepthGap(gap)).unwrap();
        let mut ids = Vec::new();
        for (first, last) in [(1, 3), (4, 4), (5, 9)] {
            let mut published = Published {
                fast: vec![diff(first, last)],
                slow: vec![],
                slow_tick: false,
            };
            venue.shift_depth(&mut published);
            ids.push((published.fast[0].first, published.fast[0].last));
        }
        assert_eq!(ids, vec![(6, 8), (9, 9), (10, 14)]);
        assert!(faults.active().is_empty(), "one-shot gap is spent");
        let snapshot = Some(DepthSnapshot::default());
        let shifted = venue.shift_snapshot(SymbolId(0), snapshot).unwrap();
        assert_eq!(shifted.last_update_id, 5);
    }

    #[tokio::test]
    async fn reorder_shuffles_windows_and_loses_nothing() {
        let faults = faults();
        let bus = Bus::new(64);
        let mut user_rx = bus.user_tx.subscribe();
        let mut venue = VenueFaults::new(faults.clone());
        let window = ReorderUserEvents {
            window: 3,
            duration_ms: None,
        };
        let id = faults.inject(FaultSpec::ReorderUserEvents(window)).unwrap();
        for n in 0..4 {
            venue.publish_user(&bus, AccountId(1), n.to_string());
        }
        faults.clear(id);
        venue.tick(&bus);
        let mut got = Vec::new();
        while let Ok(msg) = user_rx.try_recv() {
            got.push(msg.json.clone());
        }
        assert_ne!(got[..3], ["0", "1", "2"], "first window shuffled");
        got[..3].sort();
        assert_eq!(got, ["0", "1", "2", "3"]);
    }
}
