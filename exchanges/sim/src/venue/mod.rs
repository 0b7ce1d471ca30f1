//! The venue actor: owns the engine, the synthetic market and the depth feed, and is the only
//! task that touches them. Protocol handlers send it [`Command`]s (through [`VenueClient`]) and
//! await a oneshot reply; market ticks and depth publications run on its own timers. After
//! each step it serializes what happened and fans it out on the [`Bus`].

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

mod publish;
mod stats_streams;

use crate::bus::Bus;
use crate::clock::Clock;
use crate::config::SimConfig;
use crate::engine::*;
use crate::errors::ApiError;
use crate::faults::{SimFaults, VenueFaults};
use crate::feed::{DepthFeed, DepthSnapshot};
use crate::limits::Limits;
use crate::market::SyntheticMarket;
use crate::stats::Stats;
use crate::tape::Tape;
pub(crate) use publish::{Top, top_of_book};
pub(crate) use stats_streams::{AVG_PRICE_MINS, average_price};

/// How long a handler waits for the venue before answering `-1007` (the venue's 10 s).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

type Reply<T> = oneshot::Sender<T>;

/// A request to the venue actor.
pub(crate) enum Command {
    Place {
        order: NewOrder,
        reply: Reply<Result<Placed, Reject>>,
    },
    /// Validates an order without placing it (`order/test`).
    Check {
        order: NewOrder,
        reply: Reply<Result<(), Reject>>,
    },
    Cancel {
        account: AccountId,
        symbol: SymbolId,
        key: OrderKey,
        cancel_id: Option<String>,
        /// `cancelRestrictions`: cancel only if the order has this status.
        only: Option<OrderStatus>,
        reply: Reply<Result<Canceled, Reject>>,
    },
    /// Order amend keep-priority; replies with the amend and the execution id of its report.
    Amend {
        account: AccountId,
        symbol: SymbolId,
        key: OrderKey,
        new_client_id: Option<String>,
        new_qty: Decimal,
        reply: Reply<Result<(Amended, u64), Reject>>,
    },
    CancelAll {
        account: AccountId,
        symbol: SymbolId,
        reply: Reply<Result<Vec<Canceled>, Reject>>,
    },
    Query {
        account: AccountId,
        symbol: SymbolId,
        key: OrderKey,
        reply: Reply<Result<Order, Reject>>,
    },
    OpenOrders {
        account: AccountId,
        symbol: Option<SymbolId>,
        reply: Reply<Vec<Order>>,
    },
    AllOrders {
        account: AccountId,
        symbol: SymbolId,
        filter: OrderFilter,
        reply: Reply<Vec<Order>>,
    },
    /// Runs a read-only closure over the venue's state (market statistics, tickers).
    Read(Box<dyn FnOnce(View<'_>) + Send>),
    MyTrades {
        account: AccountId,
        symbol: SymbolId,
        filter: TradeFilter,
        reply: Reply<Vec<AccountTrade>>,
    },
    Balances {
        account: AccountId,
        reply: Reply<(Vec<(AssetId, Balance)>, i64)>,
    },
    Depth {
        symbol: SymbolId,
        limit: usize,
        reply: Reply<Option<DepthSnapshot>>,
    },
}

/// What a [`Command::Read`] closure sees.
pub(crate) struct View<'a> {
    pub engine: &'a Engine,
    pub tape: &'a Tape,
    pub now: i64,
}

/// The handle protocol handlers use to talk to the venue.
#[derive(Clone, Debug)]
pub(crate) struct VenueClient {
    cmd_tx: mpsc::Sender<Command>,
}

impl VenueClient {
    pub fn new(cmd_tx: mpsc::Sender<Command>) -> Self {
        Self { cmd_tx }
    }

    /// Sends a command and waits for the reply; `-1000` if the venue is gone (shutdown),
    /// `-1007` if it does not answer in time.
    pub async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ApiError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.cmd_tx
            .send(make(reply_tx))
            .await
            .map_err(|_| ApiError::unknown())?;
        match tokio::time::timeout(REPLY_TIMEOUT, reply_rx).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(ApiError::unknown()),
            Err(_) => Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                -1007,
                "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
            )),
        }
    }

    /// Runs `read` over the venue's state inside the actor and returns its result.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(View<'_>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.call(|reply| {
            Command::Read(Box::new(move |view| {
                let _ = reply.send(read(view));
            }))
        })
        .await
    }
}

pub(crate) struct Venue {
    engine: Engine,
    market: Option<SyntheticMarket>,
    feed: DepthFeed,
    clock: Clock,
    stats: Arc<Stats>,
    bus: Bus,
    tape: Tape,
    tops: Vec<Option<Top>>,
    tick_interval: Duration,
    depth_interval: Duration,
    execution_id: u64,
    faults: VenueFaults,
    /// ORDERS counts: an order's first fill takes it off the unfilled order count.
    limits: Arc<Limits>,
    /// Open time of the kline last published per symbol and interval.
    kline_open: std::collections::HashMap<(SymbolId, crate::tape::Interval), i64>,
    stats_ticks: u64,
}

impl Venue {
    /// Builds the engine with the demo user and the agents funded, the first ladder quoted and
    /// published, so the book is full before the first request. Returns the user's account.
    pub fn new(
        config: &SimConfig,
        catalog: Arc<Catalog>,
        clock: Clock,
        stats: Arc<Stats>,
        bus: Bus,
        faults: SimFaults,
        limits: Arc<Limits>,
    ) -> (Self, AccountId) {
        let now = clock.now_ms();
        let fees = Fees {
            maker: config.fees.maker,
            taker: config.fees.taker,
        };
        let mut engine = Engine::new(
            Arc::clone(&catalog),
            fees,
            config.seed,
            config.history_limit,
        );
        let user = engine.open_account(true);
        for (asset, amount) in &config.balances {
            if let Some(asset) = catalog.asset_id(asset) {
                engine.deposit(user, asset, *amount, now);
            }
        }
        let market = config.market.enabled.then(|| {
            let maker = engine.open_account(false);
            let taker = engine.open_account(false);
            for asset in 0..catalog.asset_count() {
                for agent in [maker, taker] {
                    engine.deposit(agent, AssetId(asset), config.market.agent_balance, now);
                }
            }
            SyntheticMarket::new(config, maker, taker)
        });
        let mut venue = Self {
            feed: DepthFeed::new(catalog.symbols().count(), config.streams.depth_slow_every),
            engine,
            market,
            clock,
            stats,
            bus,
            tape: Tape::new(catalog.symbols().count()),
            tops: vec![None; catalog.symbols().count()],
            tick_interval: Duration::from_millis(config.market.tick_interval_ms.max(1)),
            depth_interval: Duration::from_millis(config.streams.depth_interval_ms.max(1)),
            execution_id: 0,
            faults: VenueFaults::new(faults),
            limits,
            kline_open: std::collections::HashMap::new(),
            stats_ticks: 0,
        };
        venue.engine.take_events();
        venue.tick_market();
        venue.publish_depth();
        (venue, user)
    }

    /// Serves commands and runs the market and depth timers until `shutdown`.
    pub async fn run(mut self, mut cmd_rx: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut market_tick = interval(self.tick_interval);
        let mut depth_tick = interval(self.depth_interval);
        let mut stats_tick = interval(stats_streams::STATS_INTERVAL);
        stats_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        market_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        depth_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                cmd = cmd_rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                _ = depth_tick.tick() => self.publish_depth(),
                _ = market_tick.tick() => self.tick_market(),
                _ = stats_tick.tick() => self.publish_stats(),
            }
        }
        debug!("venue stopped");
    }

    fn handle(&mut self, cmd: Command) {
        let now = self.clock.now_ms();
        let engine = &mut self.engine;
        // A dropped reply only means the requester went away; the command still took effect.
        match cmd {
            Command::Place { order, reply } => {
                let _ = reply.send(engine.place(order, now));
            }
            Command::Amend {
                account,
                symbol,
                key,
                new_client_id,
                new_qty,
                reply,
            } => {
                // Reports publish in order right after this command, so the amend's is next.
                let result = engine.amend(account, symbol, &key, new_client_id, new_qty, now);
                let _ = reply.send(result.map(|a| (a, self.execution_id + 1)));
            }
            Command::Check { order, reply } => {
                let _ = reply.send(engine.check(&order));
            }
            Command::Cancel {
                account,
                symbol,
                key,
                cancel_id,
                only,
                reply,
            } => {
                let restricted = only.is_some_and(|only| {
                    engine
                        .query(account, symbol, &key)
                        .is_ok_and(|o| o.status.is_open() && o.status != only)
                });
                let result = if restricted {
                    Err(Reject::CancelRestricted)
                } else {
                    engine.cancel(account, symbol, &key, cancel_id, now)
                };
                let _ = reply.send(result);
            }
            Command::AllOrders {
                account,
                symbol,
                filter,
                reply,
            } => {
                let _ = reply.send(engine.all_orders(account, symbol, filter));
            }
            Command::Read(read) => read(View {
                engine,
                tape: &self.tape,
                now,
            }),
            Command::CancelAll {
                account,
                symbol,
                reply,
            } => {
                let _ = reply.send(engine.cancel_all(account, symbol, now));
            }
            Command::Query {
                account,
                symbol,
                key,
                reply,
            } => {
                let _ = reply.send(engine.query(account, symbol, &key));
            }
            Command::OpenOrders {
                account,
                symbol,
                reply,
            } => {
                let _ = reply.send(engine.open_orders(account, symbol));
            }
            Command::MyTrades {
                account,
                symbol,
                filter,
                reply,
            } => {
                let _ = reply.send(engine.my_trades(account, symbol, filter));
            }
            Command::Balances { account, reply } => {
                let _ = reply.send(engine.balances(account));
            }
            Command::Depth {
                symbol,
                limit,
                reply,
            } => {
                let snapshot = self.feed.snapshot(symbol, limit);
                let _ = reply.send(self.faults.shift_snapshot(symbol, snapshot));
            }
        }
        self.flush_events();
    }

    fn tick_market(&mut self) {
        if let Some(market) = self.market.as_mut() {
            market.tick(&mut self.engine, self.clock.now_ms());
        }
        self.flush_events();
    }
}

pub(super) fn to_json(value: &impl serde::Serialize) -> Option<String> {
    serde_json::to_string(value)
        .inspect_err(|error| warn!(%error, "cannot serialize event"))
        .ok()
}
