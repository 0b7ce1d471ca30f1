//! The OMS's working set: every live order with its fills, indexed by id and by client order
//! id, and the idempotency keys a replay is answered from without reading the store.
//!
//! An order stays here while it is non-terminal, while its status is only inferred (so that
//! venue truth can still revise it), while its fills do not yet add up to its filled quantity,
//! and while a change to it is not yet durable. An order that leaves is kept a little longer
//! among the recently final ones: the venue's user-stream reports of an order usually arrive
//! just after its REST answer made it final, and they must not cost a store read each. Older
//! orders are read from the store.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{OmsError, OrderDetail};
use crate::store::{FillRecord, OrderRecord};

/// Most idempotency keys kept in memory; older ones are found by the store's unique index.
pub(super) const MAX_KEYS: usize = 200_000;
/// Most recently final orders kept in memory, and the longest they are kept.
const RECENT_MAX: usize = 16_384;
const RECENT_FOR: Duration = Duration::from_secs(30);

/// A caller waiting for the venue's answer to an amend.
pub(super) type AmendWaiter = oneshot::Sender<Result<OrderDetail, OmsError>>;

/// An amend sent to the venue and not answered yet.
pub(super) struct PendingAmend {
    /// The quantity asked for.
    pub quantity: Decimal,
    pub waiter: AmendWaiter,
}

/// One live order.
pub(super) struct LiveOrder {
    pub order: OrderRecord,
    pub fills: Vec<FillRecord>,
    /// Callers waiting for the venue's answer to the send.
    pub send_waiters: Vec<oneshot::Sender<OrderDetail>>,
    /// Callers waiting for a cancel's outcome (the order leaving `pending_cancel`).
    pub cancel_waiters: Vec<oneshot::Sender<OrderDetail>>,
    /// Venue time (ms) no send of this order can be signed after: the signed timestamp of the
    /// last send, or an upper bound of it (the time a send returned or the daemon restarted).
    pub send_bound_venue_ms: Option<i64>,
    /// Cancels the query task of this order while one runs.
    pub resolver: Option<CancellationToken>,
    /// Venue times of "not found" answers that came after the order could still be accepted.
    pub not_found_at: Vec<i64>,
    /// A fetch of this order's trades is in flight.
    pub fetching_fills: bool,
    /// Trade fetches since the filled quantity last changed.
    pub fill_fetches: u32,
    /// Changes to this order written to no committed batch yet.
    pub unwritten: u32,
    /// The amend in flight, if any (one at a time per order).
    pub amend: Option<PendingAmend>,
}

impl LiveOrder {
    pub fn new(order: OrderRecord, fills: Vec<FillRecord>) -> LiveOrder {
        LiveOrder {
            order,
            fills,
            send_waiters: Vec::new(),
            cancel_waiters: Vec::new(),
            send_bound_venue_ms: None,
            resolver: None,
            not_found_at: Vec::new(),
            fetching_fills: false,
            fill_fetches: 0,
            unwritten: 0,
            amend: None,
        }
    }

    pub fn detail(&self) -> OrderDetail {
        OrderDetail {
            order: self.order.clone(),
            fills: self.fills.clone(),
        }
    }

    /// Sum of the stored fills' quantities.
    pub fn filled_by_fills(&self) -> Decimal {
        self.fills.iter().map(|f| f.quantity).sum()
    }

    /// Whether the fills add up to the filled quantity the venue reported.
    pub fn fills_complete(&self) -> bool {
        self.filled_by_fills() == self.order.filled_quantity
    }

    /// Answers the callers waiting for the send's answer with the order as it is now.
    pub fn wake_senders(&mut self) {
        let waiters = std::mem::take(&mut self.send_waiters);
        self.answer(waiters);
    }

    /// Answers the callers waiting for a cancel's outcome.
    pub fn wake_cancellers(&mut self) {
        let waiters = std::mem::take(&mut self.cancel_waiters);
        self.answer(waiters);
    }

    fn answer(&self, waiters: Vec<oneshot::Sender<OrderDetail>>) {
        if waiters.is_empty() {
            return;
        }
        let detail = self.detail();
        for waiter in waiters {
            let _ = waiter.send(detail.clone());
        }
    }

    /// Whether the order may leave memory: final, venue-stated, complete, written, unwatched.
    pub fn evictable(&self) -> bool {
        self.order.status.is_terminal()
            && !self.order.status_inferred
            && self.unwritten == 0
            && self.resolver.is_none()
            && !self.fetching_fills
            && self.send_waiters.is_empty()
            && self.cancel_waiters.is_empty()
            && self.amend.is_none()
            && self.fills_complete()
    }
}

/// A known idempotency key: the order it created and the fingerprint of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KnownKey {
    pub order_id: i64,
    pub request_hash: String,
}

/// Live orders and known keys.
#[derive(Default)]
pub(super) struct WorkingSet {
    orders: HashMap<i64, LiveOrder>,
    /// (venue, client order id) -> order id.
    by_client: HashMap<(String, String), i64>,
    keys: HashMap<String, KnownKey>,
    key_order: VecDeque<String>,
    /// False once a key was evicted: a key missing here may then still be in the store.
    keys_complete: bool,
    /// Orders that left the live set lately, by id, with the time they left.
    recent: HashMap<i64, (Instant, LiveOrder)>,
    /// (venue, client order id) -> order id, for `recent`.
    recent_by_client: HashMap<(String, String), i64>,
    /// Ids in the order they left; an entry is stale when the order was revived since.
    recent_order: VecDeque<(Instant, i64)>,
}

impl WorkingSet {
    pub fn new() -> WorkingSet {
        WorkingSet {
            keys_complete: true,
            ..WorkingSet::default()
        }
    }

    pub fn insert(&mut self, live: LiveOrder) {
        let key = (live.order.venue.clone(), live.order.client_order_id.clone());
        self.by_client.insert(key, live.order.id);
        self.orders.insert(live.order.id, live);
    }

    pub fn get(&self, id: i64) -> Option<&LiveOrder> {
        self.orders.get(&id)
    }

    pub fn get_mut(&mut self, id: i64) -> Option<&mut LiveOrder> {
        self.orders.get_mut(&id)
    }

    pub fn contains(&self, id: i64) -> bool {
        self.orders.contains_key(&id)
    }

    /// The order with this client order id, reviving it into the live set if it had just
    /// left it (a report about it is about to change it).
    pub fn revive_by_client_id(&mut self, venue: &str, client_order_id: &str) -> Option<i64> {
        let key = (venue.to_string(), client_order_id.to_string());
        if let Some(id) = self.by_client.get(&key) {
            return Some(*id);
        }
        let id = *self.recent_by_client.get(&key)?;
        self.revive(id).then_some(id)
    }

    /// Whether the order is live, bringing it back from the recently final ones if needed.
    pub fn ensure_live(&mut self, id: i64) -> bool {
        self.contains(id) || self.revive(id)
    }

    /// The order as memory knows it, live or recently final.
    pub fn detail(&self, id: i64) -> Option<super::OrderDetail> {
        self.orders
            .get(&id)
            .or_else(|| self.recent.get(&id).map(|(_, live)| live))
            .map(LiveOrder::detail)
    }

    fn revive(&mut self, id: i64) -> bool {
        let Some((_, live)) = self.recent.remove(&id) else {
            return false;
        };
        let key = (live.order.venue.clone(), live.order.client_order_id.clone());
        self.recent_by_client.remove(&key);
        self.insert(live);
        true
    }

    /// The order with this venue order id on this symbol, if live.
    pub fn by_venue_order_id(&self, venue: &str, venue_symbol: &str, id: &str) -> Option<i64> {
        self.orders
            .values()
            .find(|l| {
                l.order.venue == venue
                    && l.order.venue_symbol == venue_symbol
                    && l.order.venue_order_id.as_deref() == Some(id)
            })
            .map(|l| l.order.id)
    }

    /// Moves the order out of the live set (into the recently final ones) if it may leave.
    pub fn evict_if_done(&mut self, id: i64) {
        if self.orders.get(&id).is_some_and(LiveOrder::evictable)
            && let Some(live) = self.orders.remove(&id)
        {
            let key = (live.order.venue.clone(), live.order.client_order_id.clone());
            self.by_client.remove(&key);
            let now = Instant::now();
            self.recent_by_client.insert(key, id);
            self.recent.insert(id, (now, live));
            self.recent_order.push_back((now, id));
            self.forget_old(now);
        }
    }

    /// Drops recently final orders past [`RECENT_FOR`] or beyond [`RECENT_MAX`].
    fn forget_old(&mut self, now: Instant) {
        while let Some(&(left, id)) = self.recent_order.front() {
            if self.recent_order.len() <= RECENT_MAX && now.duration_since(left) < RECENT_FOR {
                break;
            }
            self.recent_order.pop_front();
            if self.recent.get(&id).is_some_and(|(at, _)| *at == left)
                && let Some((_, live)) = self.recent.remove(&id)
            {
                self.recent_by_client
                    .remove(&(live.order.venue, live.order.client_order_id));
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &LiveOrder> {
        self.orders.values()
    }

    /// Live orders of one venue, as records (for reconciliation tasks).
    pub fn records_of(&self, venue: &str) -> Vec<OrderRecord> {
        let mut records: Vec<OrderRecord> = self
            .orders
            .values()
            .filter(|l| l.order.venue == venue)
            .map(|l| l.order.clone())
            .collect();
        records.sort_by_key(|o| o.id);
        records
    }

    pub fn key(&self, key: &str) -> Option<&KnownKey> {
        self.keys.get(key)
    }

    pub fn keys_complete(&self) -> bool {
        self.keys_complete
    }

    /// Remembers a key, evicting the oldest beyond [`MAX_KEYS`].
    pub fn remember_key(&mut self, key: String, known: KnownKey) {
        if self.keys.insert(key.clone(), known).is_none() {
            self.key_order.push_back(key);
        }
        while self.key_order.len() > MAX_KEYS {
            if let Some(old) = self.key_order.pop_front() {
                self.keys.remove(&old);
                self.keys_complete = false;
            }
        }
    }

    /// Marks the in-memory keys as a subset of the stored ones (some were never loaded).
    pub fn set_keys_incomplete(&mut self) {
        self.keys_complete = false;
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }
}

#[cfg(test)]
mod tests {
    use exchange_core::OrderStatus;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::oms::state::tests::order;

    fn live(id: i64, status: OrderStatus) -> LiveOrder {
        let mut record = order(status, dec!(0));
        record.id = id;
        record.client_order_id = format!("c{id}");
        LiveOrder::new(record, Vec::new())
    }

    #[test]
    fn a_final_order_is_found_again_by_its_client_id_after_it_left() {
        let mut work = WorkingSet::new();
        work.insert(live(1, OrderStatus::Expired));
        work.insert(live(2, OrderStatus::New));
        work.evict_if_done(1);
        work.evict_if_done(2);
        assert!(!work.contains(1), "a final order leaves the live set");
        assert!(work.contains(2), "an open order stays");
        assert_eq!(work.iter().count(), 1, "risk sees live orders only");
        assert!(
            work.detail(1).is_some(),
            "reads are still served from memory"
        );
        assert_eq!(work.revive_by_client_id("binance", "c1"), Some(1));
        assert!(work.contains(1), "a report for it brings it back");
        // It leaves again, and is found again by id.
        work.evict_if_done(1);
        assert!(!work.contains(1));
        assert!(work.ensure_live(1));
        assert_eq!(work.revive_by_client_id("binance", "c3"), None);
    }

    #[test]
    fn recently_final_orders_are_bounded() {
        let mut work = WorkingSet::new();
        let total = RECENT_MAX as i64 + 10;
        for id in 1..=total {
            work.insert(live(id, OrderStatus::Filled));
            work.evict_if_done(id);
        }
        assert!(work.detail(1).is_none(), "the oldest are forgotten");
        assert!(!work.ensure_live(10));
        assert!(work.detail(total).is_some());
        assert_eq!(work.recent.len(), RECENT_MAX);
        assert_eq!(work.recent_by_client.len(), RECENT_MAX);
    }
}
