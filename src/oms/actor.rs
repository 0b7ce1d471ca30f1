//! The OMS actor: its commands, its loop and one turn.
//!
//! A turn takes every command that is ready, applies each in memory, and queues the rows it
//! produced and the effects that must wait for durability (venue requests, replies) in the
//! pending batch; [`super::commit`] writes the batch in one transaction while the next turn is
//! already being applied, and runs the effects once it is committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use exchange_core::{Balance, ExchangeError, Fill, OrderSnapshot, Placement, UserEvent};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::commit::{Committer, Effect};
use super::limits::{BookMid, Limits, OrderRateWindow};
use super::working::WorkingSet;
use super::{
    KillSwitch, KillSwitchOutcome, KillSwitchRequest, Observation, OmsError, OmsHandle,
    OrderDetail, ReconcileReport, SubmitRequest, Submitted,
};
use crate::heartbeat::{HEARTBEAT_TICK, Heartbeat};
use crate::store::{BalanceRecord, FillRecord, OrderRecord, Store, StoreError, Watermark};
use crate::telemetry;
use crate::venues::Venues;

/// Bound of the command queue (submits, venue answers, reports); senders wait when it is full.
pub(super) const COMMAND_QUEUE: usize = 8192;
/// Most commands one turn takes before it writes.
const TURN_MAX: usize = 4096;
const EVENT_FANOUT: usize = 4096;

/// The book mids the price band is checked against, per (venue, venue symbol).
pub type Mids = watch::Receiver<Arc<HashMap<(String, String), BookMid>>>;

/// Timing settings of the OMS.
#[derive(Debug, Clone, Copy)]
pub struct OmsSettings {
    /// Deadline of one venue call.
    pub request_timeout: Duration,
    /// How often open orders are polled while a venue's user stream is down.
    pub poll_interval: Duration,
}

/// Messages to the OMS actor.
pub(crate) enum Command {
    Submit {
        req: SubmitRequest,
        reply: oneshot::Sender<Result<Submitted, OmsError>>,
    },
    Cancel {
        order_id: i64,
        reply: oneshot::Sender<Result<oneshot::Receiver<OrderDetail>, OmsError>>,
    },
    Amend {
        order_id: i64,
        quantity: rust_decimal::Decimal,
        reply: super::amend::AmendReply,
    },
    Get {
        ids: Vec<i64>,
        reply: oneshot::Sender<Vec<Option<OrderDetail>>>,
    },
    SetKillSwitch {
        req: KillSwitchRequest,
        reply: oneshot::Sender<Result<KillSwitchOutcome, OmsError>>,
    },
    GetKillSwitch {
        reply: oneshot::Sender<KillSwitch>,
    },
    GetBalances {
        reply: oneshot::Sender<Vec<BalanceRecord>>,
    },
    /// The venue's answer to a place request; `bound_venue_ms` is the venue time when the call
    /// returned (an upper bound of the signed timestamp when the adapter could not say).
    Placed {
        order_id: i64,
        placement: Placement,
        bound_venue_ms: i64,
    },
    /// The venue's answer to a cancel request.
    CancelAnswered {
        order_id: i64,
        result: Result<OrderSnapshot, ExchangeError>,
    },
    /// The venue's answer to an amend request.
    AmendAnswered {
        order_id: i64,
        result: Result<OrderSnapshot, ExchangeError>,
    },
    /// What the venue said about an order (a query, open or all orders); `done` fires once
    /// the change is durable.
    Observed {
        order_id: i64,
        obs: Observation,
        fills: Vec<Fill>,
        kind: &'static str,
        done: Option<oneshot::Sender<()>>,
    },
    /// Fills of one order found by a backfill or a trade fetch.
    Backfill {
        order_id: i64,
        fills: Vec<Fill>,
        done: Option<oneshot::Sender<()>>,
    },
    /// A query task for an order ended (found or not).
    ResolveEnded {
        order_id: i64,
    },
    /// A trade fetch for an order ended.
    FillsFetchEnded {
        order_id: i64,
    },
    /// A query found no such order on the venue, at this venue time.
    NotFound {
        order_id: i64,
        venue_ms: i64,
    },
    /// The live orders of a venue, for a poller.
    Records {
        venue: String,
        reply: oneshot::Sender<Vec<OrderRecord>>,
    },
    /// An order of ours on the venue that the store does not know.
    Adopt {
        venue: String,
        snapshot: OrderSnapshot,
        fills: Vec<Fill>,
        done: Option<oneshot::Sender<()>>,
    },
    /// Venue fills that match no stored order: kept for adoption.
    Unmatched {
        venue: String,
        fills: Vec<Fill>,
        done: Option<oneshot::Sender<()>>,
    },
    /// An order read from the store for commands parked on it.
    Loaded {
        order_id: i64,
        loaded: Result<Option<(OrderRecord, Vec<FillRecord>)>, StoreError>,
    },
    User {
        venue: String,
        event: UserEvent,
    },
    Balances {
        venue: String,
        balances: Vec<Balance>,
    },
    Watermarks {
        marks: Vec<Watermark>,
        done: Option<oneshot::Sender<()>>,
    },
    /// Cancel every open order (shutdown).
    CancelOpen {
        reply: oneshot::Sender<super::CancelOpen>,
    },
    /// Start reconciling a venue (pauses its submissions until done).
    Reconcile {
        venue: String,
        reply: Option<oneshot::Sender<ReconcileReport>>,
    },
    /// A reconciliation run ended; sent after all its other commands were applied.
    Reconciled {
        venue: String,
        report: ReconcileReport,
    },
}

impl Command {
    /// The order a command is about, when it needs that order in memory.
    fn order_scope(&self) -> Option<i64> {
        match self {
            Command::Cancel { order_id, .. }
            | Command::Amend { order_id, .. }
            | Command::Placed { order_id, .. }
            | Command::CancelAnswered { order_id, .. }
            | Command::AmendAnswered { order_id, .. }
            | Command::Observed { order_id, .. }
            | Command::Backfill { order_id, .. }
            | Command::NotFound { order_id, .. } => Some(*order_id),
            _ => None,
        }
    }
}

/// The OMS actor. Create with [`Oms::new`], then drive it with [`Oms::run`].
pub struct Oms {
    pub(super) venues: Arc<Venues>,
    pub(super) store: Arc<dyn Store>,
    pub(super) cmd_tx: mpsc::Sender<Command>,
    cmd_rx: mpsc::Receiver<Command>,
    pub(super) events_tx: broadcast::Sender<super::OrderEvent>,
    pub(super) tasks: TaskTracker,
    pub(super) shutdown: CancellationToken,
    pub(super) request_timeout: Duration,
    pub(super) poll_interval: Duration,
    pub(super) work: WorkingSet,
    pub(super) commit: Committer,
    /// Commands waiting for their order to be read from the store.
    pub(super) parked: HashMap<i64, Vec<Command>>,
    /// Idempotency keys whose order is being written.
    pub(super) pending_keys: HashMap<String, super::commit::PendingKey>,
    pub(super) kill_switch: KillSwitch,
    pub(super) limits: HashMap<String, Limits>,
    pub(super) rate_windows: HashMap<String, OrderRateWindow>,
    pub(super) mids: Mids,
    /// (venue, asset) -> balance.
    pub(super) balances: HashMap<(String, String), BalanceRecord>,
    /// Reconciliation runs per venue.
    pub(super) runs: HashMap<String, super::reconcile::Runs>,
    /// Venues whose balances were loaded (position checks need them).
    pub(super) balances_known: std::collections::HashSet<String>,
    /// Stamped each turn while no store write is outstanding (the watchdog's view of it).
    heartbeat: Heartbeat,
}

impl Oms {
    /// Builds the actor and its handle. Venue tasks it spawns stop when `shutdown` fires.
    pub fn new(
        store: Arc<dyn Store>,
        venues: Arc<Venues>,
        mids: Mids,
        settings: OmsSettings,
        shutdown: CancellationToken,
    ) -> (Oms, OmsHandle) {
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, _) = broadcast::channel(EVENT_FANOUT);
        let store_up = Arc::new(AtomicBool::new(true));
        let handle = OmsHandle {
            cmd_tx: cmd_tx.clone(),
            events_tx: events_tx.clone(),
            store: store.clone(),
            store_up: store_up.clone(),
            intake_open: Arc::new(AtomicBool::new(true)),
        };
        let mut limits = HashMap::new();
        let mut rate_windows = HashMap::new();
        for venue in venues.iter() {
            limits.insert(venue.name().to_string(), Limits::new(&venue.config.risk));
            if let Some(rate) = &venue.config.risk.order_rate {
                rate_windows.insert(venue.name().to_string(), OrderRateWindow::new(rate));
            }
        }
        let oms = Oms {
            commit: Committer::new(store.clone(), store_up),
            store,
            venues,
            cmd_tx,
            cmd_rx,
            events_tx,
            tasks: TaskTracker::new(),
            shutdown,
            request_timeout: settings.request_timeout,
            poll_interval: settings.poll_interval,
            work: WorkingSet::new(),
            parked: HashMap::new(),
            pending_keys: HashMap::new(),
            kill_switch: KillSwitch::default(),
            limits,
            rate_windows,
            mids,
            balances: HashMap::new(),
            balances_known: Default::default(),
            runs: HashMap::new(),
            heartbeat: Heartbeat::detached("order_processor"),
        };
        (oms, handle)
    }

    /// Reports the actor's progress to `heartbeat` (the systemd watchdog's view of it).
    pub fn watched(mut self, heartbeat: Heartbeat) -> Oms {
        self.heartbeat = heartbeat;
        self
    }

    /// Loads the working set from the store: live orders with their fills, recent
    /// idempotency keys, balances and the kill switch. Call before [`Oms::run`].
    pub async fn load(&mut self) -> Result<(), StoreError> {
        super::submit::load_state(self).await
    }

    /// Processes commands until shutdown, then drains: venue calls already in flight are
    /// awaited (up to the request timeout), their answers applied and written.
    ///
    /// Progress, for the watchdog, is a turn taken while no batch is being written, or a
    /// batch finished: a store write that never returns stops the heartbeat even though the
    /// loop keeps taking commands.
    pub async fn run(mut self) {
        let mut idle = tokio::time::interval(HEARTBEAT_TICK);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let retry = self.commit.retry_at();
            let linger = self.commit.linger_until();
            let backlogged = self.commit.backlogged();
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                done = self.commit.finished() => {
                    self.heartbeat.beat();
                    self.on_commit(done);
                }
                () = sleep_until_opt(retry) => self.commit.retry_now(),
                // A lingering batch of facts is due: written below.
                () = sleep_until_opt(linger) => {}
                cmd = self.cmd_rx.recv(), if !backlogged => match cmd {
                    Some(cmd) => self.turn(cmd, false),
                    None => break,
                },
                _ = idle.tick() => {}
            }
            self.beat_unless_writing();
            self.start_commit_if_idle();
        }
        self.drain().await;
    }

    /// Applies `first` and every other ready command, up to [`TURN_MAX`].
    fn turn(&mut self, first: Command, draining: bool) {
        self.dispatch(first, draining);
        for _ in 1..TURN_MAX {
            match self.cmd_rx.try_recv() {
                Ok(cmd) => self.dispatch(cmd, draining),
                Err(_) => break,
            }
        }
    }

    async fn drain(&mut self) {
        self.tasks.close();
        self.commit.stop_lingering();
        let deadline = tokio::time::Instant::now() + self.request_timeout + Duration::from_secs(1);
        loop {
            let tasks_done = self.tasks.is_empty();
            if tasks_done && self.commit.idle_and_empty() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                done = self.commit.finished() => self.on_commit(done),
                cmd = self.cmd_rx.recv(), if !tasks_done => match cmd {
                    Some(cmd) => self.turn(cmd, true),
                    None => break,
                },
                () = tokio::time::sleep(Duration::from_millis(20)), if tasks_done => {}
                () = tokio::time::sleep(HEARTBEAT_TICK) => {}
            }
            self.beat_unless_writing();
            self.start_commit_if_idle();
        }
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            self.dispatch(cmd, true);
        }
        for (outcome, turn) in self.commit.flush_on_shutdown().await {
            self.publish_committed(&outcome, &turn);
        }
        tracing::info!(in_flight = self.tasks.len(), "order processor stopped");
    }

    fn beat_unless_writing(&self) {
        if !self.commit.writing() {
            self.heartbeat.beat();
        }
    }

    fn dispatch(&mut self, cmd: Command, draining: bool) {
        if draining {
            match cmd {
                Command::Submit { reply, .. } => {
                    let _ = reply.send(Err(OmsError::shutting_down()));
                    return;
                }
                Command::Cancel { reply, .. } => {
                    let _ = reply.send(Err(OmsError::shutting_down()));
                    return;
                }
                Command::Amend { reply, .. } => {
                    let _ = reply.send(Err(OmsError::shutting_down()));
                    return;
                }
                other => return self.dispatch_live(other),
            }
        }
        self.dispatch_live(cmd);
    }

    fn dispatch_live(&mut self, cmd: Command) {
        if let Some(id) = cmd.order_scope()
            && !self.work.ensure_live(id)
        {
            self.park(id, cmd);
            return;
        }
        match cmd {
            Command::Submit { req, reply } => self.submit(req, reply),
            Command::Cancel { order_id, reply } => self.cancel(order_id, reply),
            Command::Amend {
                order_id,
                quantity,
                reply,
            } => self.amend(order_id, quantity, reply),
            Command::Get { ids, reply } => {
                let found = ids.iter().map(|id| self.work.detail(*id)).collect();
                let _ = reply.send(found);
            }
            Command::SetKillSwitch { req, reply } => self.set_kill_switch(req, reply),
            Command::GetKillSwitch { reply } => {
                let _ = reply.send(self.kill_switch.clone());
            }
            Command::GetBalances { reply } => {
                let mut all: Vec<BalanceRecord> = self.balances.values().cloned().collect();
                all.sort_by(|a, b| (&a.venue, &a.asset).cmp(&(&b.venue, &b.asset)));
                let _ = reply.send(all);
            }
            Command::Placed {
                order_id,
                placement,
                bound_venue_ms,
            } => self.on_placed(order_id, placement, bound_venue_ms),
            Command::CancelAnswered { order_id, result } => {
                self.on_cancel_answered(order_id, result)
            }
            Command::AmendAnswered { order_id, result } => self.on_amend_answered(order_id, result),
            Command::Observed {
                order_id,
                obs,
                fills,
                kind,
                done,
            } => {
                self.observe(order_id, super::apply::Change::new(obs, fills, kind));
                self.commit.after(Effect::done(done));
            }
            Command::Backfill {
                order_id,
                fills,
                done,
            } => {
                self.observe(order_id, super::apply::Change::fills(fills));
                self.commit.after(Effect::done(done));
            }
            Command::ResolveEnded { order_id } => {
                if let Some(live) = self.work.get_mut(order_id) {
                    live.resolver = None;
                }
                self.after_change(order_id);
            }
            Command::FillsFetchEnded { order_id } => {
                if let Some(live) = self.work.get_mut(order_id) {
                    live.fetching_fills = false;
                }
                self.after_change(order_id);
            }
            Command::NotFound { order_id, venue_ms } => self.on_not_found(order_id, venue_ms),
            Command::Records { venue, reply } => {
                let _ = reply.send(self.work.records_of(&venue));
            }
            Command::Adopt {
                venue,
                snapshot,
                fills,
                done,
            } => self.adopt(&venue, snapshot, fills, done),
            Command::Unmatched { venue, fills, done } => self.keep_unmatched(&venue, fills, done),
            Command::Loaded { order_id, loaded } => self.on_loaded(order_id, loaded),
            Command::User { venue, event } => self.on_user_event(&venue, event),
            Command::Balances { venue, balances } => self.on_balances(&venue, balances, true),
            Command::Watermarks { marks, done } => {
                self.commit.pending().watermarks.extend(marks);
                self.commit.after(Effect::done(done));
            }
            Command::CancelOpen { reply } => self.cancel_open(reply),
            Command::Reconcile { venue, reply } => self.start_reconcile(&venue, reply),
            Command::Reconciled { venue, report } => self.on_reconciled(&venue, report),
        }
    }

    /// Holds a command until its order is read from the store.
    fn park(&mut self, order_id: i64, cmd: Command) {
        let first = !self.parked.contains_key(&order_id);
        self.parked.entry(order_id).or_default().push(cmd);
        if first {
            super::resolve::spawn_load(self, order_id, Duration::ZERO);
        }
    }

    fn on_loaded(
        &mut self,
        order_id: i64,
        loaded: Result<Option<(OrderRecord, Vec<FillRecord>)>, StoreError>,
    ) {
        match loaded {
            Ok(Some((order, fills))) => {
                if !self.work.contains(order_id) {
                    self.admit_loaded(order, fills);
                }
                for cmd in self.parked.remove(&order_id).unwrap_or_default() {
                    self.dispatch_live(cmd);
                }
            }
            Ok(None) => {
                for cmd in self.parked.remove(&order_id).unwrap_or_default() {
                    match cmd {
                        Command::Cancel { reply, .. } => {
                            let _ = reply.send(Err(OmsError::NotFound(order_id)));
                        }
                        Command::Amend { reply, .. } => {
                            let _ = reply.send(Err(OmsError::NotFound(order_id)));
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => {
                tracing::warn!(order_id, error = %e, "cannot read an order from the store; retrying");
                super::resolve::spawn_load(self, order_id, Duration::from_millis(500));
            }
        }
    }

    /// The venue time now, as the venue's adapter estimates it.
    pub(super) fn venue_now_ms(&self, venue: &str) -> i64 {
        self.venues
            .get(venue)
            .map(|v| v.exchange.venue_time_ms())
            .unwrap_or_else(now_ms)
    }

    pub(super) fn count_discrepancy(&self, order: &OrderRecord, reason: &'static str) {
        telemetry::order_discrepancy(&order.venue, reason);
        tracing::warn!(
            order_id = order.id,
            venue = %order.venue,
            client_order_id = %order.client_order_id,
            reason,
            "venue truth revised what omsd had inferred"
        );
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub(super) use crate::clock::now_ms;
