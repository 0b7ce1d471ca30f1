//! The questions hot paths ask the registry. Each returns quickly when nothing is active and
//! counts a trigger when the answer changes what goes on the wire.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::Rng;
use rand::seq::SliceRandom;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::spec::NAMES;
use super::{Active, FaultId, FaultSpec, SimFaults, Target, lock};
use crate::engine::SymbolId;

impl SimFaults {
    /// Whether any fault is active (lock-free).
    pub(crate) fn any(&self) -> bool {
        self.inner.any.load(Ordering::Acquire)
    }

    /// Bumped on every change of the active set and on every drop order.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed_tx.subscribe()
    }

    /// The first live fault for which `pick` answers.
    fn first<T>(&self, mut pick: impl FnMut(&Active) -> Option<T>) -> Option<T> {
        if !self.any() {
            return None;
        }
        self.live(|faults| faults.filter_map(&mut pick).next())
    }

    pub(crate) fn hit(&self, index: usize) {
        self.inner.stats.faults.triggered(index);
    }

    /// `hit` by fault name (for effects decided outside a registry lookup).
    pub(crate) fn hit_named(&self, name: &str) {
        if let Some(index) = NAMES.iter().position(|n| *n == name) {
            self.hit(index);
        }
    }

    /// True with probability `rate`, from the seeded RNG.
    pub(crate) fn roll(&self, rate: f64) -> bool {
        if rate >= 1.0 {
            return true;
        }
        if rate <= 0.0 {
            return false;
        }
        lock(&self.inner.rng).random::<f64>() < rate
    }

    /// `first` for faults with a rate: the rate is drawn only for matching faults, and a hit
    /// is counted.
    fn pick<T>(&self, mut pick: impl FnMut(&Active) -> Option<(f64, T)>) -> Option<T> {
        self.first(|a| {
            let (rate, value) = pick(a)?;
            self.roll(rate).then(|| {
                self.hit(a.spec.index());
                value
            })
        })
    }

    /// `force_418` wins over `force_429`: `(status, retry_after_s)`.
    pub(crate) fn forced_status(&self) -> Option<(u16, u64)> {
        let ban = self.pick(|a| match &a.spec {
            FaultSpec::Force418(p) => Some((1.0, (418, p.retry_after_s))),
            _ => None,
        });
        ban.or_else(|| {
            self.pick(|a| match &a.spec {
                FaultSpec::Force429(p) => Some((1.0, (429, p.retry_after_s))),
                _ => None,
            })
        })
    }

    /// `rest_errors` for this request: `(status, execute)`.
    pub(crate) fn rest_error(&self, method: &str, path: &str) -> Option<(u16, bool)> {
        self.pick(|a| match &a.spec {
            FaultSpec::RestErrors(p) if matches(&p.paths, &p.methods, method, path) => {
                Some((p.rate, (p.status, p.execute)))
            }
            _ => None,
        })
    }

    /// `rest_hang` for this request: `(fault, hold, execute)`.
    pub(crate) fn rest_hang(&self, method: &str, path: &str) -> Option<(FaultId, Duration, bool)> {
        self.pick(|a| match &a.spec {
            FaultSpec::RestHang(p) if matches(&p.paths, &p.methods, method, path) => {
                let hold = Duration::from_millis(p.duration_ms);
                Some((p.rate, (a.id, hold, p.execute)))
            }
            _ => None,
        })
    }

    /// Added delay for one response or frame batch on `surface`.
    pub(crate) fn latency(&self, surface: Target) -> Option<Duration> {
        let (mean, jitter) = self.pick(|a| match &a.spec {
            FaultSpec::Latency(p) if p.target.covers(surface) => {
                Some((1.0, (p.mean_ms, p.jitter_ms)))
            }
            _ => None,
        })?;
        let offset = if jitter == 0 {
            0
        } else {
            lock(&self.inner.rng).random_range(0..=2 * jitter)
        };
        Some(Duration::from_millis(
            (mean + offset).saturating_sub(jitter),
        ))
    }

    /// Whether an accepted placement's response on `surface` is swallowed: `(fault, hold)`.
    pub(crate) fn swallow(
        &self,
        surface: Target,
        symbol: Option<SymbolId>,
    ) -> Option<(FaultId, Duration)> {
        self.pick(|a| match &a.spec {
            FaultSpec::SwallowOrderAcks(p) if p.target.covers(surface) && a.has_symbol(symbol) => {
                Some((p.rate, (a.id, Duration::from_millis(p.hold_ms))))
            }
            _ => None,
        })
    }

    /// Whether a `swallow_order_acks` could apply on `surface` (before looking at the symbol).
    pub(crate) fn swallow_armed(&self, surface: Target) -> bool {
        self.first(|a| match &a.spec {
            FaultSpec::SwallowOrderAcks(p) if p.target.covers(surface) => Some(()),
            _ => None,
        })
        .is_some()
    }

    /// Waits until fault `id` is no longer active, at most `max` (or until shutdown).
    pub(crate) async fn until_cleared(&self, id: FaultId, max: Duration) {
        let mut changed_rx = self.subscribe();
        let deadline = tokio::time::sleep(max);
        tokio::pin!(deadline);
        while self.first(|a| (a.id == id).then_some(())).is_some() {
            tokio::select! {
                () = &mut deadline => return,
                () = self.inner.shutdown.cancelled() => return,
                changed = changed_rx.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Whether data frames for `symbol` (`None`: user events) on `surface` are held back.
    pub(crate) fn silenced(&self, surface: Target, symbol: Option<SymbolId>) -> bool {
        self.pick(|a| match &a.spec {
            FaultSpec::SilenceStreams(p) if p.target.covers(surface) && a.has_symbol(symbol) => {
                Some((1.0, ()))
            }
            _ => None,
        })
        .is_some()
    }

    /// Whether server pings on `surface` are suppressed (counted per suppressed ping).
    pub(crate) fn stop_pings(&self, surface: Target) -> bool {
        self.pick(|a| match &a.spec {
            FaultSpec::StopPings(p) if p.target.covers(surface) => Some((1.0, ())),
            _ => None,
        })
        .is_some()
    }

    /// Whether connections on `surface` stop reading (pongs ignored, pings unanswered).
    /// Not counted here: the session counts when it starts ignoring.
    pub(crate) fn ignore_pongs(&self, surface: Target) -> bool {
        self.first(|a| match &a.spec {
            FaultSpec::IgnorePongs(p) if p.target.covers(surface) => Some(()),
            _ => None,
        })
        .is_some()
    }

    /// The latest drop order number; a new session ignores drops older than it.
    pub(crate) fn drop_seq(&self) -> u64 {
        self.read().drop_seq
    }

    /// Applies the drop orders after `seen` to one connection on `surface`.
    pub(crate) fn take_drop(&self, surface: Target, seen: &mut u64) -> bool {
        let orders: Vec<(Target, f64)> = {
            let state = self.read();
            let orders = state.drops.iter().filter(|d| d.seq > *seen);
            let orders = orders.map(|d| (d.target, d.rate)).collect();
            *seen = state.drop_seq;
            orders
        };
        let drop = orders
            .into_iter()
            .any(|(target, rate)| target.covers(surface) && self.roll(rate));
        if drop {
            self.hit_named("drop_connections");
        }
        drop
    }

    /// Extra update ids to skip for each published symbol; one-shot gaps end once applied.
    pub(crate) fn depth_gaps(&self, published: &[SymbolId]) -> Vec<(SymbolId, u64)> {
        let mut gaps = Vec::new();
        let mut spent = Vec::new();
        let _ = self.first(|a| {
            if let FaultSpec::DepthGap(p) = &a.spec {
                let hits = published.iter().filter(|s| a.has_symbol(Some(**s)));
                let before = gaps.len();
                gaps.extend(hits.map(|s| (*s, p.skip)));
                if gaps.len() > before {
                    self.hit(a.spec.index());
                    if p.duration_ms.is_none() {
                        spent.push(a.id);
                    }
                }
            }
            None::<()>
        });
        for id in spent {
            self.clear(id);
        }
        gaps
    }

    /// Whether the next user event is sent twice.
    pub(crate) fn duplicate_user(&self) -> bool {
        self.pick(|a| match &a.spec {
            FaultSpec::DuplicateUserEvents(p) => Some((p.rate, ())),
            _ => None,
        })
        .is_some()
    }

    /// The reorder window of an active `reorder_user_events`.
    pub(crate) fn reorder_window(&self) -> Option<usize> {
        self.first(|a| match &a.spec {
            FaultSpec::ReorderUserEvents(p) => Some(p.window),
            _ => None,
        })
    }

    /// Shuffles `items` with the seeded RNG into an order that is never the original one.
    pub(crate) fn shuffle<T>(&self, items: &mut Vec<T>) {
        if items.len() < 2 {
            return;
        }
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.shuffle(&mut *lock(&self.inner.rng));
        if order.is_sorted() {
            order.rotate_left(1);
        }
        let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
        items.extend(order.into_iter().filter_map(|i| slots[i].take()));
        self.hit_named("reorder_user_events");
    }

    /// Whether a downtime window is open.
    pub(crate) fn down(&self) -> bool {
        self.first(|a| matches!(a.spec, FaultSpec::Downtime(_)).then_some(()))
            .is_some()
    }

    /// The token that cuts connections accepted now when the next downtime starts.
    pub(crate) fn kill_token(&self) -> CancellationToken {
        lock(&self.inner.kill).clone()
    }
}

/// Empty `paths` / `methods` match everything.
fn matches(paths: &[String], methods: &[String], method: &str, path: &str) -> bool {
    (paths.is_empty() || paths.iter().any(|p| p == path))
        && (methods.is_empty() || methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
}
