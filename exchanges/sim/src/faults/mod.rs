//! Fault injection: a registry of active faults ([`SimFaults`]) that tests script through the
//! library (`SimHandle::faults()`) or over HTTP (`/_sim/faults`), and the hooks that read it.
//!
//! - `spec`, `parse`, `validate`: what can be injected ([`FaultSpec`]), reading it from JSON,
//!   and the 400-worthy checks;
//! - `query`: the cheap questions hot paths ask ("is this request failing?");
//! - `rest`: the REST middleware (forced 429/418, 5xx, hangs, latency, swallowed acks);
//! - `session`: per-WebSocket hooks (drop, silence, pings, pongs, latency);
//! - `venue`: depth id gaps and duplicated or reordered user events, inside the venue actor;
//! - `listener`: downtime (connection refused, live connections cut);
//! - `control`: the JSON control API; `counters`: per-fault counters for `/_sim/stats`.
//!
//! Reads take a std `RwLock` only when the `any` flag says something is active; no lock is ever
//! held across an await. Every change bumps a watch channel, so waiting sessions, held
//! responses and the listener re-check at once (expiry included). Rates draw from one RNG
//! seeded with the simulator's seed.

mod control;
mod counters;
mod listener;
mod parse;
mod query;
mod rest;
mod session;
mod spec;
mod validate;
mod venue;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use counters::FaultCount;
pub(crate) use counters::FaultCounters;
pub(crate) use listener::FaultListener;
pub(crate) use rest::{forced_error, rest_faults, swallow_ws};
pub(crate) use session::{Change, SessionFaults};
pub use spec::*;
pub use validate::FaultError;
pub(crate) use venue::VenueFaults;

pub(crate) use control::routes;

use crate::clock::Clock;
use crate::engine::{Catalog, SymbolId};
use crate::stats::Stats;

/// One-shot drop orders remembered for sessions that have not looked yet.
const DROP_HISTORY: usize = 64;

/// Id of an injected fault, unique per simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultId(pub u64);

/// An active fault, as `GET /_sim/faults` lists it: `{"id":1,"fault":..,"params":{..},
/// "remaining_ms":..}` (`remaining_ms` is null for faults that last until cleared).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActiveFault {
    pub id: FaultId,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub remaining_ms: Option<u64>,
}

/// The fault registry of one simulator. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct SimFaults {
    inner: Arc<Inner>,
}

struct Inner {
    /// Fast path: false when nothing is active, so hot paths skip the lock.
    any: AtomicBool,
    state: RwLock<State>,
    changed_tx: watch::Sender<u64>,
    stats: Arc<Stats>,
    clock: Clock,
    catalog: Arc<Catalog>,
    rng: Mutex<ChaCha8Rng>,
    /// Cancelled when a downtime starts: every connection accepted before it is cut.
    kill: Mutex<CancellationToken>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Default)]
struct State {
    next_id: u64,
    active: Vec<Active>,
    drops: VecDeque<DropOrder>,
    drop_seq: u64,
}

/// An active fault with its resolved symbols (empty = all) and its end, if timed.
struct Active {
    id: FaultId,
    spec: FaultSpec,
    symbols: Vec<SymbolId>,
    until: Option<Instant>,
}

/// A one-shot `drop_connections`, applied by each session that sees it.
struct DropOrder {
    seq: u64,
    target: Target,
    rate: f64,
}

impl Active {
    fn live(&self, now: Instant) -> bool {
        self.until.is_none_or(|until| until > now)
    }

    fn has_symbol(&self, symbol: Option<SymbolId>) -> bool {
        self.symbols.is_empty() || symbol.is_some_and(|s| self.symbols.contains(&s))
    }
}

impl SimFaults {
    pub(crate) fn new(
        catalog: Arc<Catalog>,
        clock: Clock,
        stats: Arc<Stats>,
        seed: u64,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0xfa17);
        let inner = Inner {
            any: AtomicBool::new(false),
            state: RwLock::default(),
            changed_tx: watch::Sender::new(0),
            stats,
            clock,
            catalog,
            rng: Mutex::new(rng),
            kill: Mutex::default(),
            shutdown,
            tracker,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Validates and activates a fault; one-shot faults (`drop_connections`) apply at once
    /// and are not listed afterwards. A timed fault ends by itself after `duration_ms`.
    pub fn inject(&self, spec: FaultSpec) -> Result<FaultId, FaultError> {
        let symbols = spec.validate(&self.inner.catalog)?;
        let index = spec.index();
        self.inner.stats.faults.injected(index);
        let lifetime = spec.lifetime_ms().map(Duration::from_millis);
        let id = {
            let mut state = self.write();
            state.next_id += 1;
            let id = FaultId(state.next_id);
            match &spec {
                FaultSpec::DropConnections(p) => {
                    state.drop_seq += 1;
                    let order = DropOrder {
                        seq: state.drop_seq,
                        target: p.target,
                        rate: p.rate,
                    };
                    state.drops.push_back(order);
                    if state.drops.len() > DROP_HISTORY {
                        state.drops.pop_front();
                    }
                }
                other => {
                    if matches!(other, FaultSpec::Downtime(_) | FaultSpec::ClockSkew(_)) {
                        self.hit(index);
                    }
                    if matches!(other, FaultSpec::Downtime(_)) {
                        self.cut_connections();
                    }
                    state.active.push(Active {
                        id,
                        spec,
                        symbols,
                        until: lifetime.map(|d| Instant::now() + d),
                    });
                }
            }
            self.refresh(&state);
            id
        };
        self.notify();
        if let Some(lifetime) = lifetime {
            self.expire_after(id, lifetime);
        }
        Ok(id)
    }

    /// Ends one fault (held responses are released); false if it was not active.
    pub fn clear(&self, id: FaultId) -> bool {
        let found = {
            let mut state = self.write();
            let before = state.active.len();
            state.active.retain(|a| a.id != id);
            self.refresh(&state);
            state.active.len() != before
        };
        if found {
            self.notify();
        }
        found
    }

    /// Ends every fault; returns how many were active.
    pub fn clear_all(&self) -> usize {
        let cleared = {
            let mut state = self.write();
            let cleared = state.active.drain(..).count();
            self.refresh(&state);
            cleared
        };
        self.notify();
        cleared
    }

    /// The faults active now, oldest first.
    pub fn active(&self) -> Vec<ActiveFault> {
        let now = Instant::now();
        self.live(|faults| {
            faults
                .map(|a| ActiveFault {
                    id: a.id,
                    spec: a.spec.clone(),
                    remaining_ms: a
                        .until
                        .map(|until| u64::try_from((until - now).as_millis()).unwrap_or(u64::MAX)),
                })
                .collect()
        })
    }

    /// Ends a timed fault when its window closes (unless the simulator stops first). Without
    /// a runtime the fault still reads as inactive after its window, it is just not pruned.
    fn expire_after(&self, id: FaultId, lifetime: Duration) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let faults = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tracker.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(lifetime) => { faults.clear(id); }
                () = shutdown.cancelled() => {}
            }
        });
    }

    /// Cuts every connection accepted so far (downtime); later ones get a fresh token.
    fn cut_connections(&self) {
        std::mem::take(&mut *lock(&self.inner.kill)).cancel();
    }

    /// Recomputes what is derived from the active set: the fast-path flag and the clock skew.
    fn refresh(&self, state: &State) {
        self.inner
            .any
            .store(!state.active.is_empty(), Ordering::Release);
        let skew = state
            .active
            .iter()
            .filter_map(|a| match &a.spec {
                FaultSpec::ClockSkew(p) => Some(p.offset_ms),
                _ => None,
            })
            .sum();
        self.inner.clock.set_skew(skew);
    }

    fn notify(&self) {
        self.inner.changed_tx.send_modify(|generation| {
            *generation = generation.wrapping_add(1);
        });
    }

    /// Runs `f` over the live faults (those whose window has not closed), under the read lock.
    fn live<R>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &Active>) -> R) -> R {
        let now = Instant::now();
        let state = self.read();
        f(&mut state.active.iter().filter(|a| a.live(now)))
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for SimFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFaults")
            .field("any", &self.inner.any.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data, still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
