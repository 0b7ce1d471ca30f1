//! Per-fault counters for `/_sim/stats`: how often each fault was injected and how often it
//! changed something on the wire (a request failed, a frame was held back, an id skipped...).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::spec::NAMES;

/// Counts of one fault, as in `/_sim/stats` `faults.<name>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCount {
    /// Times the fault was injected.
    pub injected: u64,
    /// Times it took effect (a request, frame, event or connection it changed).
    pub triggered: u64,
}

/// The counters, one pair per fault name.
#[derive(Debug, Default)]
pub(crate) struct FaultCounters {
    injected: [AtomicU64; NAMES.len()],
    triggered: [AtomicU64; NAMES.len()],
}

impl FaultCounters {
    pub fn injected(&self, index: usize) {
        if let Some(counter) = self.injected.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn triggered(&self, index: usize) {
        if let Some(counter) = self.triggered.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every fault by name, zeros included, so the shape never changes.
    pub fn snapshot(&self) -> BTreeMap<String, FaultCount> {
        NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let count = FaultCount {
                    injected: self.injected[i].load(Ordering::Relaxed),
                    triggered: self.triggered[i].load(Ordering::Relaxed),
                };
                ((*name).to_owned(), count)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lists_every_fault() {
        let counters = FaultCounters::default();
        counters.injected(7);
        counters.triggered(7);
        counters.triggered(7);
        counters.triggered(99);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.len(), NAMES.len());
        let expected = FaultCount {
            injected: 1,
            triggered: 2,
        };
        assert_eq!(snapshot["rest_errors"], expected);
        assert_eq!(snapshot["latency"], FaultCount::default());
    }
}
