//! Matching-engine throughput and latency on one core: a realistic mix of passive placements
//! (50 %), cancels (35 %) and crossing IOC orders (15 %) on a book kept about 20 levels deep,
//! with execution reports on. Criterion measures batches; a summary then prints ops/s, per-op
//! latency percentiles and the ratio to a plain `BTreeMap<Decimal, _>` insert/remove loop
//! measured in the same run.
//!
//! Run: `cargo bench -p exchange-sim --bench engine`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use exchange_sim::SymbolConfig;
use exchange_sim::engine::{
    AccountId, Amount, AssetId, Catalog, Engine, Fees, NewOrder, OrderId, OrderKey, OrderKind,
    Side, SymbolId, TimeInForce,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const SYM: SymbolId = SymbolId(0);
const BATCH: u64 = 10_000;

/// An engine, its two accounts (maker, taker) and the maker's open order ids.
struct Bench {
    engine: Engine,
    maker: AccountId,
    taker: AccountId,
    open: Vec<OrderId>,
    rng: ChaCha8Rng,
}

impl Bench {
    fn new() -> Self {
        let symbol = SymbolConfig::new("BTCUSDT", "BTC", "USDT", dec!(30000));
        let catalog = Arc::new(Catalog::new(&[symbol], std::iter::empty()));
        let fees = Fees {
            maker: dec!(0.001),
            taker: dec!(0.001),
        };
        let mut engine = Engine::new(catalog, fees, 1, 1_000);
        let (maker, taker) = (engine.open_account(true), engine.open_account(true));
        for account in [maker, taker] {
            engine.deposit(account, AssetId(0), dec!(1000000000), 0);
            engine.deposit(account, AssetId(1), dec!(1000000000000), 0);
        }
        let mut bench = Self {
            engine,
            maker,
            taker,
            open: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(7),
        };
        for _ in 0..400 {
            bench.passive();
        }
        bench.engine.take_events();
        bench
    }

    fn order(
        &mut self,
        account: AccountId,
        side: Side,
        price: Decimal,
        tif: TimeInForce,
    ) -> NewOrder {
        let lots = self.rng.random_range(1..=10);
        NewOrder {
            symbol: SYM,
            account,
            side,
            kind: OrderKind::Limit { price, tif },
            amount: Amount::Base(Decimal::new(lots, 3)),
            client_order_id: None,
            stp: None,
        }
    }

    fn passive(&mut self) {
        let side = if self.rng.random() {
            Side::Buy
        } else {
            Side::Sell
        };
        let ticks = Decimal::from(self.rng.random_range(1..=20_i64));
        let price = match side {
            Side::Buy => dec!(30000) - ticks,
            Side::Sell => dec!(30000) + ticks,
        };
        let order = self.order(self.maker, side, price, TimeInForce::Gtc);
        if let Ok(placed) = self.engine.place(order, 1) {
            self.open.push(placed.order.id);
        }
    }

    /// One operation of the mix.
    fn step(&mut self) {
        let roll: u32 = self.rng.random_range(0..100);
        if roll < 50 || (roll < 85 && self.open.is_empty()) {
            self.passive();
        } else if roll < 85 {
            let index = self.rng.random_range(0..self.open.len());
            let id = self.open.swap_remove(index);
            let key = OrderKey {
                order_id: Some(id),
                client_order_id: None,
            };
            let _ = self.engine.cancel(self.maker, SYM, &key, None, 1);
        } else {
            let side = if self.rng.random() {
                Side::Buy
            } else {
                Side::Sell
            };
            let price = match side {
                Side::Buy => dec!(30003),
                Side::Sell => dec!(29997),
            };
            let order = self.order(self.taker, side, price, TimeInForce::Ioc);
            let _ = self.engine.place(order, 1);
        }
        // The venue drains events after every command.
        black_box(self.engine.take_events());
    }
}

/// The baseline: the same number of inserts and removes on a plain `BTreeMap<Decimal, u64>`.
fn baseline(map: &mut BTreeMap<Decimal, u64>, rng: &mut ChaCha8Rng) {
    let price = dec!(30000) + Decimal::from(rng.random_range(-20..=20_i64));
    if rng.random_range(0..100) < 50 {
        *map.entry(price).or_default() += 1;
    } else {
        map.remove(&price);
    }
}

fn engine_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(BATCH));
    let mut bench = Bench::new();
    group.bench_function("mixed_ops", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                bench.step();
            }
        })
    });
    let mut map = BTreeMap::new();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    group.bench_function("btreemap_baseline", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                baseline(&mut map, &mut rng);
            }
            black_box(map.len())
        })
    });
    group.finish();
}

criterion_group!(benches, engine_benches);

/// Timed runs in this process: ops/s of the engine and the baseline, their ratio, and the
/// engine's per-op latency percentiles.
fn summary() {
    const OPS: usize = 500_000;
    let mut bench = Bench::new();
    let mut latencies = Vec::with_capacity(OPS);
    let start = Instant::now();
    for _ in 0..OPS {
        let t = Instant::now();
        bench.step();
        latencies.push(t.elapsed());
    }
    let engine_rate = OPS as f64 / start.elapsed().as_secs_f64();
    let mut bench = Bench::new();
    let start = Instant::now();
    for _ in 0..OPS {
        bench.step();
    }
    let untimed_rate = OPS as f64 / start.elapsed().as_secs_f64();
    let mut map = BTreeMap::new();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = Instant::now();
    for _ in 0..OPS {
        baseline(&mut map, &mut rng);
    }
    black_box(map.len());
    let baseline_rate = OPS as f64 / start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: usize| {
        latencies
            .get(OPS * p / 100)
            .copied()
            .unwrap_or(Duration::ZERO)
    };
    println!("engine summary ({OPS} ops, one core, execution reports on)");
    println!("  engine ops/s:            {untimed_rate:>12.0}");
    println!("  btreemap baseline ops/s: {baseline_rate:>12.0}");
    println!(
        "  engine / baseline:       {:>12.3}",
        untimed_rate / baseline_rate
    );
    println!(
        "  per-op latency (timed run, {engine_rate:.0} ops/s): p50 {:?} p90 {:?} p99 {:?} p99.9 {:?}",
        pct(50),
        pct(90),
        pct(99),
        latencies
            .get(OPS * 999 / 1000)
            .copied()
            .unwrap_or(Duration::ZERO)
    );
}

fn main() {
    benches();
    summary();
    Criterion::default().configure_from_args().final_summary();
}
