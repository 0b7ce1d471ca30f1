//! The official Binance local-book procedure (reference §8) as a pure state machine, one per
//! symbol. The market stream feeds it diff events and REST snapshots; it answers with the
//! [`BookUpdate`]s to publish and when to fetch a snapshot.
//!
//! 1. Buffer events; fetch a snapshot as soon as the stream is connected ([`DepthSync::start`])
//!    rather than waiting for the first event: a quiet symbol may not publish one for seconds.
//! 2. A snapshot whose `lastUpdateId` is below the first buffered `U` is too old: fetch again,
//!    at once the first time (it most likely raced an event in flight), then after
//!    [`REFETCH_DELAY`] (the venue's REST side lags its stream).
//! 3. Drop buffered events with `u <= lastUpdateId`; check that the rest continue the snapshot
//!    without a gap (else keep them from the gap on and fetch a newer snapshot, publishing
//!    nothing); only then publish the snapshot and replay them. A snapshot that arrives before
//!    any event has nothing to be checked against and is published as is (step 4 checks it
//!    against the first event).
//! 4. The first applied event straddles (`U <= lastUpdateId + 1 <= u`); afterwards every event
//!    must start at `U == previous u + 1`. Anything else is a gap: publish `OutOfSync` and start
//!    again from step 1 with the offending event buffered. Together with the straddle check,
//!    this keeps a snapshot fetched before the first event safe: if it predates the
//!    subscription, the first event does not straddle it and the book resyncs.

use std::collections::VecDeque;
use std::time::Duration;

use exchange_core::{BookDelta, BookSnapshot, BookUpdate};

/// Wait before fetching again a snapshot that was older than the buffered events, from the
/// second stale snapshot in a row on.
pub(crate) const REFETCH_DELAY: Duration = Duration::from_millis(250);

/// What the driver must do after feeding the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncAction {
    /// Publish this update.
    Emit(BookUpdate),
    /// Fetch a REST depth snapshot after `after` and feed it to [`DepthSync::on_snapshot`].
    FetchSnapshot { after: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No event seen since (re)start.
    Idle,
    /// Buffering, a snapshot is on its way.
    AwaitingSnapshot,
    /// In sync at `last_update_id`; `straddled` once the first event after the snapshot applied.
    Live {
        last_update_id: u64,
        straddled: bool,
    },
}

/// Sync state of one symbol's book.
#[derive(Debug)]
pub(crate) struct DepthSync {
    symbol: String,
    state: State,
    buffer: VecDeque<BookDelta>,
    max_buffer: usize,
    /// Stale snapshots in a row since the last fetch request from step 1.
    stale_snapshots: u32,
    /// Buffered events dropped because the buffer was full (the oldest go first).
    pub(crate) buffer_overflows: u64,
}

impl DepthSync {
    /// A machine for `symbol` buffering at most `max_buffer` events while awaiting a snapshot.
    pub(crate) fn new(symbol: impl Into<String>, max_buffer: usize) -> Self {
        DepthSync {
            symbol: symbol.into(),
            state: State::Idle,
            buffer: VecDeque::new(),
            max_buffer: max_buffer.max(1),
            stale_snapshots: 0,
            buffer_overflows: 0,
        }
    }

    /// True while deltas are being published.
    #[cfg(test)]
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.state, State::Live { .. })
    }

    /// Events buffered now, awaiting a snapshot.
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The update id the published book is at, while it is in sync.
    pub(crate) fn live_at(&self) -> Option<u64> {
        match self.state {
            State::Live { last_update_id, .. } => Some(last_update_id),
            _ => None,
        }
    }

    /// True once the procedure started (an event arrived since the last reset).
    pub(crate) fn is_started(&self) -> bool {
        self.state != State::Idle
    }

    /// The stream is connected: starts the procedure with a snapshot fetch unless an event
    /// already did.
    pub(crate) fn start(&mut self) -> Vec<SyncAction> {
        if self.state != State::Idle {
            return Vec::new();
        }
        self.await_snapshot()
    }

    fn await_snapshot(&mut self) -> Vec<SyncAction> {
        self.state = State::AwaitingSnapshot;
        self.stale_snapshots = 0;
        vec![SyncAction::FetchSnapshot {
            after: Duration::ZERO,
        }]
    }

    /// Feeds one diff event.
    pub(crate) fn on_delta(&mut self, delta: BookDelta) -> Vec<SyncAction> {
        match self.state {
            State::Idle => {
                self.buffer.push_back(delta);
                self.await_snapshot()
            }
            State::AwaitingSnapshot => {
                // Dropping the oldest keeps the procedure correct: step 2 compares the snapshot
                // with whatever is first in the buffer.
                if self.buffer.len() >= self.max_buffer {
                    self.buffer.pop_front();
                    self.buffer_overflows += 1;
                }
                self.buffer.push_back(delta);
                Vec::new()
            }
            State::Live {
                last_update_id,
                straddled,
            } => {
                if delta.last_update_id <= last_update_id {
                    return Vec::new(); // already covered by the book
                }
                let applies = if straddled {
                    delta.first_update_id == last_update_id + 1
                } else {
                    delta.first_update_id <= last_update_id + 1
                };
                if applies {
                    self.state = State::Live {
                        last_update_id: delta.last_update_id,
                        straddled: true,
                    };
                    vec![SyncAction::Emit(BookUpdate::Delta(delta))]
                } else {
                    let reason = format!(
                        "sequence gap: expected U={}, got U={}",
                        last_update_id + 1,
                        delta.first_update_id
                    );
                    self.buffer.clear();
                    self.buffer.push_back(delta);
                    let mut actions = vec![SyncAction::Emit(self.out_of_sync(reason))];
                    actions.extend(self.await_snapshot());
                    actions
                }
            }
        }
    }

    /// Feeds the snapshot fetched after a [`SyncAction::FetchSnapshot`].
    pub(crate) fn on_snapshot(&mut self, snapshot: BookSnapshot) -> Vec<SyncAction> {
        if self.state != State::AwaitingSnapshot {
            return Vec::new(); // nobody asked for it any more
        }
        let last = snapshot.last_update_id;
        if let Some(first) = self.buffer.front()
            && last < first.first_update_id
        {
            self.stale_snapshots += 1;
            let after = match self.stale_snapshots {
                1 => Duration::ZERO,
                _ => REFETCH_DELAY,
            };
            return vec![SyncAction::FetchSnapshot { after }];
        }
        let buffered: Vec<BookDelta> = self
            .buffer
            .drain(..)
            .filter(|d| d.last_update_id > last)
            .collect();
        // Verified before anything is published: the buffered events must continue the
        // snapshot without a gap. If they do not, the snapshot cannot be brought up to date:
        // keep the events from the gap on and fetch a newer one.
        if let Some(gap) = first_gap(last, &buffered) {
            self.buffer.extend(buffered.into_iter().skip(gap));
            self.stale_snapshots += 1;
            let after = match self.stale_snapshots {
                1 => Duration::ZERO,
                _ => REFETCH_DELAY,
            };
            return vec![SyncAction::FetchSnapshot { after }];
        }
        self.state = State::Live {
            last_update_id: last,
            straddled: false,
        };
        let mut actions = vec![SyncAction::Emit(BookUpdate::Snapshot(snapshot))];
        for delta in buffered {
            actions.extend(self.on_delta(delta));
        }
        actions
    }

    /// Forgets everything (the connection dropped): publishes `OutOfSync`; the next
    /// [`Self::start`] or event starts the procedure again.
    pub(crate) fn reset(&mut self, reason: &str) -> SyncAction {
        self.state = State::Idle;
        self.buffer.clear();
        SyncAction::Emit(self.out_of_sync(reason.to_owned()))
    }

    fn out_of_sync(&self, reason: String) -> BookUpdate {
        BookUpdate::OutOfSync {
            venue_symbol: self.symbol.clone(),
            reason,
        }
    }
}

/// The index of the first of `events` (all newer than `last`) that does not continue the
/// book at `last`: the first must straddle `last + 1`, each next one start right after the
/// previous one.
fn first_gap(last: u64, events: &[BookDelta]) -> Option<usize> {
    let mut at = last;
    for (i, event) in events.iter().enumerate() {
        let continues = if i == 0 {
            event.first_update_id <= at + 1
        } else {
            event.first_update_id == at + 1
        };
        if !continues {
            return Some(i);
        }
        at = event.last_update_id;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use exchange_core::Level;
    use rust_decimal::Decimal;

    fn delta(first: u64, last: u64) -> BookDelta {
        BookDelta {
            venue_symbol: "BTCUSDT".into(),
            first_update_id: first,
            last_update_id: last,
            bids: vec![Level::new(Decimal::from(last), Decimal::ONE)],
            asks: Vec::new(),
            event_time_ms: 0,
        }
    }

    fn snapshot(last: u64) -> BookSnapshot {
        BookSnapshot {
            venue_symbol: "BTCUSDT".into(),
            last_update_id: last,
            bids: vec![],
            asks: vec![],
        }
    }

    /// A compact view of actions: `S<id>` snapshot, `D<U>-<u>` delta, `X` out of sync,
    /// `F` fetch now, `R` refetch after a delay.
    fn show(actions: &[SyncAction]) -> String {
        let parts: Vec<String> = actions
            .iter()
            .map(|a| match a {
                SyncAction::Emit(BookUpdate::Snapshot(s)) => format!("S{}", s.last_update_id),
                SyncAction::Emit(BookUpdate::Delta(d)) => {
                    format!("D{}-{}", d.first_update_id, d.last_update_id)
                }
                SyncAction::Emit(BookUpdate::OutOfSync { .. }) => "X".into(),
                SyncAction::FetchSnapshot { after } if after.is_zero() => "F".into(),
                SyncAction::FetchSnapshot { .. } => "R".into(),
            })
            .collect();
        parts.join(" ")
    }

    enum Step {
        Ev(u64, u64),
        Snap(u64),
        Reset,
        /// The stream (re)connected.
        Start,
    }
    use Step::{Ev, Reset, Snap, Start};

    #[test]
    fn procedure_table() {
        let cases: Vec<(&str, Vec<Step>, Vec<&str>)> = vec![
            (
                "straddling first buffered event",
                vec![Ev(100, 105), Ev(106, 110), Snap(107), Ev(111, 111)],
                vec!["F", "", "S107 D106-110", "D111-111"],
            ),
            (
                "stale buffered events are dropped",
                vec![
                    Ev(100, 105),
                    Ev(106, 110),
                    Ev(111, 115),
                    Snap(110),
                    Ev(116, 120),
                ],
                vec!["F", "", "", "S110 D111-115", "D116-120"],
            ),
            (
                "snapshot older than the buffer is fetched again",
                vec![Ev(100, 105), Snap(90), Ev(106, 110), Snap(108)],
                vec!["F", "F", "", "S108 D106-110"],
            ),
            (
                "snapshot at U-1 is too old by the official rule (lastUpdateId < U)",
                vec![Ev(100, 105), Snap(99), Snap(100)],
                vec!["F", "F", "S100 D100-105"],
            ),
            (
                "snapshot newer than every buffered event; next live event straddles",
                vec![Ev(100, 105), Snap(107), Ev(106, 109), Ev(110, 112)],
                vec!["F", "S107", "D106-109", "D110-112"],
            ),
            (
                "gap after sync triggers a resync from the gapping event",
                vec![
                    Ev(100, 105),
                    Snap(102),
                    Ev(106, 110),
                    Ev(112, 115),
                    Snap(113),
                    Ev(116, 116),
                ],
                vec![
                    "F",
                    "S102 D100-105",
                    "D106-110",
                    "X F",
                    "S113 D112-115",
                    "D116-116",
                ],
            ),
            (
                "first event after the snapshot must reach lastUpdateId + 1",
                vec![Ev(100, 105), Snap(110), Ev(112, 115)],
                vec!["F", "S110", "X F"],
            ),
            (
                "overlap after the first applied event is a gap (strict U == u + 1)",
                vec![Ev(100, 105), Snap(101), Ev(104, 108)],
                vec!["F", "S101 D100-105", "X F"],
            ),
            (
                "duplicate and old events are ignored while live",
                vec![
                    Ev(100, 105),
                    Snap(101),
                    Ev(100, 105),
                    Ev(103, 104),
                    Ev(106, 107),
                ],
                vec!["F", "S101 D100-105", "", "", "D106-107"],
            ),
            (
                "a gap inside the buffer is found before the snapshot is published",
                vec![Ev(100, 105), Ev(108, 110), Snap(101), Snap(109)],
                vec!["F", "", "F", "S109 D108-110"],
            ),
            (
                "a snapshot whose first newer buffered event does not straddle it is not published",
                vec![Ev(100, 102), Ev(105, 106), Snap(103), Snap(105)],
                vec!["F", "", "F", "S105 D105-106"],
            ),
            (
                "late snapshot after a reset is ignored",
                vec![Ev(100, 105), Reset, Snap(103), Ev(200, 201), Snap(200)],
                vec!["F", "X", "", "F", "S200 D200-201"],
            ),
            (
                "connecting fetches at once; a snapshot before any event is published",
                vec![Start, Snap(100), Ev(95, 100), Ev(101, 103), Ev(104, 104)],
                vec!["F", "S100", "", "D101-103", "D104-104"],
            ),
            (
                "a snapshot from before the subscription is caught by the straddle check",
                vec![Start, Snap(90), Ev(100, 105), Snap(105)],
                vec!["F", "S90", "X F", "S105"],
            ),
            (
                "an event before the connect-time fetch answers is buffered as usual",
                vec![Start, Ev(100, 105), Start, Snap(103), Ev(106, 106)],
                vec!["F", "", "", "S103 D100-105", "D106-106"],
            ),
            (
                "snapshot in flight at a drop is ignored and the reconnect fetches again",
                vec![Start, Reset, Snap(103), Start, Snap(104), Ev(105, 106)],
                vec!["F", "X", "", "F", "S104", "D105-106"],
            ),
            (
                "the first stale snapshot is refetched at once, later ones after a delay",
                vec![Ev(100, 105), Snap(90), Snap(95), Snap(99), Snap(105)],
                vec!["F", "F", "R", "R", "S105"],
            ),
            (
                "a resync after a gap refetches a stale snapshot at once again",
                vec![
                    Ev(100, 105),
                    Snap(90),
                    Snap(95),
                    Snap(101),
                    Ev(107, 108),
                    Snap(100),
                    Snap(108),
                ],
                vec!["F", "F", "R", "S101 D100-105", "X F", "F", "S108"],
            ),
        ];
        for (name, steps, want) in cases {
            let mut sync = DepthSync::new("BTCUSDT", 100);
            let got: Vec<String> = steps
                .into_iter()
                .map(|step| match step {
                    Ev(first, last) => show(&sync.on_delta(delta(first, last))),
                    Snap(last) => show(&sync.on_snapshot(snapshot(last))),
                    Reset => show(&[sync.reset("disconnected")]),
                    Start => show(&sync.start()),
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn buffer_is_bounded_and_drops_oldest() {
        let mut sync = DepthSync::new("BTCUSDT", 2);
        sync.on_delta(delta(1, 1));
        sync.on_delta(delta(2, 2));
        sync.on_delta(delta(3, 3));
        assert_eq!(sync.buffer_overflows, 1);
        // Event 1 was dropped, so a snapshot at 1 is now older than the first buffered U (2).
        assert_eq!(show(&sync.on_snapshot(snapshot(1))), "F");
        assert_eq!(show(&sync.on_snapshot(snapshot(2))), "S2 D3-3");
        assert!(sync.is_live());
    }

    #[test]
    fn out_of_sync_names_the_symbol_and_gap() {
        let mut sync = DepthSync::new("ETHUSDT", 10);
        sync.on_delta(delta(10, 10));
        sync.on_snapshot(snapshot(10));
        sync.on_delta(delta(11, 11));
        let actions = sync.on_delta(delta(13, 13));
        assert_eq!(
            actions[0],
            SyncAction::Emit(BookUpdate::OutOfSync {
                venue_symbol: "ETHUSDT".into(),
                reason: "sequence gap: expected U=12, got U=13".into(),
            })
        );
        assert!(!sync.is_live());
    }
}
