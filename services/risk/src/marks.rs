//! Mark prices of the held symbols (gateway StreamMarket), each applied at once: risk re-values
//! the last account snapshot at them ([`crate::revalue`]), so a price move that crosses a tier
//! issues its directive as soon as the mark reaches risk instead of at the next snapshot (up to
//! `account_poll_ms` + `exchange.account_max_age_ms` later). The venue pushes marks once a
//! second; the perp's best bid/ask moves at once, so its mid is applied too, but only when it
//! puts the account in a worse tier ([`RiskCore::apply_book`]).
//!
//! The subscription covers the symbols of the last snapshot (perp positions, `<ASSET>USDT` of
//! the cross-margin assets) and is renewed when that set changes; nothing is subscribed while
//! nothing is held. The opening snapshot events of a subscription are skipped: their age is
//! unknown, and only a mark received after an account snapshot was taken may re-value it.
//! Failures reconnect with exponential backoff; meanwhile the figures are the snapshots'.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use fff_proto::convert::{FieldError, parse_decimal, parse_optional_decimal};
use fff_proto::fff::gateway::v1::{self as gw, stream_market_response::Event};
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio_stream::StreamExt as _;
use tonic::Status;

use crate::feed::{AccountSource, FeedSettings};
use crate::revalue::MarkQuote;
use crate::state::RiskCore;

/// Why a subscription ended without an error.
enum Ended {
    /// The held set changed: subscribe again at once.
    HeldChanged,
    /// The gateway closed the stream.
    Closed,
    /// The state is gone (shutdown).
    Stopped,
}

/// Follows the held symbols' marks until the core is dropped; runs beside
/// [`crate::feed::follow_account`] for the lease term.
pub async fn follow_marks<S: AccountSource>(
    source: S,
    core: Arc<RiskCore>,
    settings: FeedSettings,
) {
    let mut held = core.held_symbols();
    let mut delay = settings.reconnect_initial;
    loop {
        let symbols = match held.wait_for(|symbols| !symbols.is_empty()).await {
            Ok(symbols) => symbols.clone(),
            Err(_) => return,
        };
        let mut received = false;
        let result = session(&source, &core, &mut held, &symbols, &mut received).await;
        if received {
            delay = settings.reconnect_initial;
        }
        match result {
            Ok(Ended::HeldChanged) => {
                tracing::debug!(symbols = ?held.borrow().iter().collect::<Vec<_>>(), "held symbols changed: resubscribing to marks");
                continue;
            }
            Ok(Ended::Stopped) => return,
            Ok(Ended::Closed) => tracing::warn!(
                retry_in_ms = delay.as_millis(),
                "gateway mark stream ended: margin figures follow account snapshots only"
            ),
            Err(status) => tracing::warn!(
                code = ?status.code(),
                error = status.message(),
                retry_in_ms = delay.as_millis(),
                "gateway mark stream failed: margin figures follow account snapshots only"
            ),
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2).min(settings.reconnect_max);
    }
}

async fn session<S: AccountSource>(
    source: &S,
    core: &RiskCore,
    held: &mut watch::Receiver<BTreeSet<String>>,
    symbols: &BTreeSet<String>,
    received: &mut bool,
) -> Result<Ended, Status> {
    let mut stream = source
        .mark_prices(symbols.iter().cloned().collect())
        .await?;
    tracing::debug!(symbols = ?symbols, "following mark prices");
    // a failure is logged once per run of failures, not once per mark
    let mut failing = false;
    loop {
        tokio::select! {
            biased;
            changed = held.changed() => {
                if changed.is_err() {
                    return Ok(Ended::Stopped);
                }
                if *held.borrow_and_update() != *symbols {
                    return Ok(Ended::HeldChanged);
                }
            }
            message = stream.next() => {
                let message = match message {
                    None => return Ok(Ended::Closed),
                    Some(message) => message?,
                };
                *received = true;
                apply(core, message, &mut failing).await;
            }
        }
    }
}

/// Applies one market event; a malformed price is logged and skipped.
async fn apply(core: &RiskCore, message: gw::StreamMarketResponse, failing: &mut bool) {
    let update = match message.event {
        // the subscription's opening snapshot: of unknown age (see the module comment)
        Some(Event::MarkPrice(_) | Event::BookTicker(_)) if message.snapshot => return,
        Some(Event::MarkPrice(update)) => update,
        Some(Event::BookTicker(book)) => {
            if book.venue == fff_proto::fff::common::v1::Venue::UsdmPerp as i32
                && let Some(quote) = book_quote(&book, Utc::now())
                && let Err(error) = core.apply_book(&message.symbol, quote, Utc::now()).await
            {
                tracing::debug!(symbol = %message.symbol, %error, "book price not applied");
            }
            return;
        }
        Some(Event::Resync(resync)) => {
            // prices are levels, not changes: the next update of each symbol supersedes
            tracing::debug!(reason = resync.reason, "mark stream resync");
            return;
        }
        _ => return,
    };
    let received_at = Utc::now();
    let quote = match quote(&update, received_at) {
        Ok(quote) => quote,
        Err(error) => {
            tracing::warn!(symbol = %message.symbol, %error, "mark price update skipped");
            return;
        }
    };
    match core.apply_mark(&message.symbol, quote, received_at).await {
        Ok(_) => *failing = false,
        Err(error) if !std::mem::replace(failing, true) => {
            // not stored, not issued: the next mark or snapshot decides again
            tracing::error!(symbol = %message.symbol, %error, "mark price not applied");
        }
        Err(error) => tracing::debug!(symbol = %message.symbol, %error, "mark price not applied"),
    }
}

/// The perp book's mid as a quote (mark and index), if both sides are positive.
fn book_quote(book: &gw::BookTicker, received_at: chrono::DateTime<Utc>) -> Option<MarkQuote> {
    let bid = parse_decimal("bid_price", &book.bid_price).ok()?;
    let ask = parse_decimal("ask_price", &book.ask_price).ok()?;
    if bid <= Decimal::ZERO || ask < bid {
        return None;
    }
    let mid = (bid + ask) / Decimal::TWO;
    Some(MarkQuote {
        mark: mid,
        index: mid,
        received_at,
    })
}

/// The quote of one update: a positive mark; the index (the mark when absent or not positive).
fn quote(
    update: &gw::MarkPriceUpdate,
    received_at: chrono::DateTime<Utc>,
) -> Result<MarkQuote, FieldError> {
    let mark = parse_decimal("mark_price", &update.mark_price)?;
    if mark <= Decimal::ZERO {
        return Err(FieldError::invalid("mark_price", "must be positive"));
    }
    let index = parse_optional_decimal("index_price", &update.index_price)?
        .filter(|index| *index > Decimal::ZERO)
        .unwrap_or(mark);
    Ok(MarkQuote {
        mark,
        index,
        received_at,
    })
}
