//! Make-before-break replacement of the market-stream connection, before its maximum age and
//! when the venue announces `serverShutdown`.
//!
//! The old connection keeps feeding the books while the new one connects. Then the new
//! connection's diff events are held per symbol until the old stream has brought that book up
//! to where they start (`U <= last update id + 1`); from then on the book follows the new
//! stream only, so it never leaves sync. A book that sees no event on the new stream within
//! [`QUIET_GRACE`] moves over as is (its next event is checked against it as usual); after a
//! request deadline every book moves over, and one the old stream could not bring up to date
//! resyncs through the usual checks. Trades carried by both connections are published once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use exchange_core::{BookDelta, Lane, ReconnectReason};
use tokio::time::Instant;

use super::{Data, MarketStream};
use crate::ws::{Heartbeat, Session, WsError, connect_within_budget};

/// How long after the replacement connected a book without events on it moves over anyway.
const QUIET_GRACE: Duration = Duration::from_secs(1);

/// Which books already follow the new connection, and the new connection's events held for
/// the others.
struct Handover {
    moved: HashSet<String>,
    held: HashMap<String, Vec<BookDelta>>,
}

impl MarketStream {
    /// Replaces `old` by a new connection and hands every book over to it.
    pub(super) async fn rotate(&mut self, mut old: Session) -> Result<Session, WsError> {
        old.keep_past_max_age();
        tracing::info!("binance market stream opening its replacement connection");
        let config = &self.shared.config;
        let heartbeat = Heartbeat::from_config(config, Some(config.market_data_timeout));
        let (shared, url, shutdown) =
            (self.shared.clone(), self.url.clone(), self.shutdown.clone());
        let connecting = async move {
            connect_within_budget(&shared, &url, heartbeat, (Lane::Data, &[]), &shutdown).await
        };
        tokio::pin!(connecting);
        let mut new = loop {
            tokio::select! {
                new = &mut connecting => break new?,
                text = old.next_text(&self.shutdown) => {
                    let text = text?.ok_or(WsError::Shutdown)?;
                    match self.read_frame(&text)? {
                        Some(Data::Depth(delta)) => self.on_depth(delta).await?,
                        Some(Data::Trade(trade)) => self.publish_trade(trade)?,
                        Some(Data::ServerShutdown) | None => {}
                    }
                }
                Some(joined) = self.snapshots.join_next_with_id(), if !self.snapshots.is_empty() => {
                    self.snapshot_joined(joined).await?;
                }
            }
        };
        let result = self.hand_over(&mut old, &mut new).await;
        old.close().await;
        match result {
            Ok(()) => {
                let counters = &self.shared.counters;
                let detail = "replacement connection carries every book";
                counters.reconnect(&counters.market, ReconnectReason::Rotation, &detail);
                counters.market.set_connected(true);
                Ok(new)
            }
            Err(err) => {
                new.close().await;
                Err(err)
            }
        }
    }

    /// Reads both connections until every book follows the new one.
    async fn hand_over(&mut self, old: &mut Session, new: &mut Session) -> Result<(), WsError> {
        let connected = Instant::now();
        let quiet_at = connected + QUIET_GRACE;
        let give_up_at = connected + self.shared.config.request_timeout.max(QUIET_GRACE * 2);
        // Books out of sync have nothing to keep: they follow the new connection at once.
        let mut handover = Handover {
            moved: self
                .books
                .iter()
                .filter(|(_, book)| book.live_at().is_none())
                .map(|(symbol, _)| symbol.clone())
                .collect(),
            held: HashMap::new(),
        };
        let mut old_open = true;
        while handover.moved.len() < self.books.len() {
            let now = Instant::now();
            if now >= give_up_at || !old_open {
                break;
            }
            if now >= quiet_at {
                let quiet: Vec<String> = self
                    .books
                    .keys()
                    .filter(|s| !handover.moved.contains(*s) && !handover.held.contains_key(*s))
                    .cloned()
                    .collect();
                handover.moved.extend(quiet);
                if handover.moved.len() >= self.books.len() {
                    break;
                }
            }
            let wake = if now < quiet_at { quiet_at } else { give_up_at };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                text = old.next_text(&self.shutdown) => match text {
                    Ok(text) => {
                        let text = text.ok_or(WsError::Shutdown)?;
                        match self.read_frame(&text)? {
                            Some(Data::Depth(delta)) => {
                                let symbol = delta.venue_symbol.to_ascii_uppercase();
                                if !handover.moved.contains(&symbol) {
                                    self.on_depth(delta).await?;
                                    self.move_if_caught_up(&symbol, &mut handover).await?;
                                }
                            }
                            Some(Data::Trade(trade)) => self.publish_trade(trade)?,
                            Some(Data::ServerShutdown) | None => {}
                        }
                    }
                    Err(err) => {
                        tracing::info!(error = %err, "binance replaced market connection ended");
                        old_open = false;
                    }
                },
                text = new.next_text(&self.shutdown) => {
                    let text = text?.ok_or(WsError::Shutdown)?;
                    match self.read_frame(&text)? {
                        Some(Data::Depth(delta)) => {
                            let symbol = delta.venue_symbol.to_ascii_uppercase();
                            if handover.moved.contains(&symbol) {
                                self.on_depth(delta).await?;
                            } else {
                                handover.held.entry(symbol.clone()).or_default().push(delta);
                                self.move_if_caught_up(&symbol, &mut handover).await?;
                            }
                        }
                        Some(Data::Trade(trade)) => self.publish_trade(trade)?,
                        Some(Data::ServerShutdown) | None => {}
                    }
                }
                Some(joined) = self.snapshots.join_next_with_id(), if !self.snapshots.is_empty() => {
                    self.snapshot_joined(joined).await?;
                }
            }
        }
        // Whatever is left moves now; a book the old stream did not bring up to date finds
        // the gap in the held events and resyncs.
        let held: Vec<(String, Vec<BookDelta>)> = handover.held.drain().collect();
        for (_, deltas) in held {
            for delta in deltas {
                self.on_depth(delta).await?;
            }
        }
        Ok(())
    }

    /// Moves `symbol` to the new connection once its book reaches the first held event (or
    /// is no longer in sync), replaying the held events.
    async fn move_if_caught_up(
        &mut self,
        symbol: &str,
        handover: &mut Handover,
    ) -> Result<(), WsError> {
        let Some(first) = handover
            .held
            .get(symbol)
            .and_then(|held| held.first())
            .map(|d| d.first_update_id)
        else {
            return Ok(());
        };
        let at = self.books.get(symbol).and_then(|book| book.live_at());
        if at.is_some_and(|last| first > last.saturating_add(1)) {
            return Ok(()); // the old stream has not delivered everything before it yet
        }
        handover.moved.insert(symbol.to_owned());
        for delta in handover.held.remove(symbol).unwrap_or_default() {
            self.on_depth(delta).await?;
        }
        Ok(())
    }
}
