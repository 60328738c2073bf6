//! Funding fees with their symbol. A cross-margin `ACCOUNT_UPDATE` (reason FUNDING_FEE) carries
//! only the wallet change, so each one triggers a lookup of the FUNDING_FEE income records
//! around its time; every record is published once, with its symbol and income id (the key
//! ListIncome uses too). If the lookup fails, the symbol-less wallet change is published so no
//! fee goes unreported.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use fff_binance::RestClient;
use fff_binance::models::stream::AccountUpdate;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use pb::stream_account_response::Event;

use super::AccountHub;
use crate::convert::{dec, ts};

/// Income records are looked up this far around the settlement (ms).
const WINDOW_MS: i64 = 60_000;
/// Ids remembered for de-duplication before the set is reset (older ones fall out of the window).
const MAX_SEEN: usize = 50_000;

#[derive(Debug)]
pub struct FundingFollowup {
    rest: RestClient,
    hub: Arc<AccountHub>,
    seen: Mutex<HashSet<i64>>,
}

impl FundingFollowup {
    pub fn new(rest: RestClient, hub: Arc<AccountHub>) -> Arc<Self> {
        Arc::new(Self {
            rest,
            hub,
            seen: Mutex::new(HashSet::new()),
        })
    }

    pub fn on_settlement(self: &Arc<Self>, update: &AccountUpdate) {
        let this = self.clone();
        let update = update.clone();
        tokio::spawn(async move { this.publish(&update).await });
    }

    async fn publish(&self, update: &AccountUpdate) {
        let time = update.transaction_time;
        let records = self
            .rest
            .income(
                None,
                Some("FUNDING_FEE"),
                Some(time - WINDOW_MS),
                Some(time + WINDOW_MS),
                Some(1000),
            )
            .await;
        let mut records = match records {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(error = %err, "funding income lookup failed; fee published without symbol");
                for b in &update.data.balances {
                    self.hub.publish(
                        common::Venue::UsdmPerp,
                        update.event_time,
                        Event::FundingFee(pb::FundingFee {
                            asset: b.asset.clone(),
                            amount: dec(b.balance_change),
                            funding_time: Some(ts(time)),
                            ..Default::default()
                        }),
                    );
                }
                return;
            }
        };
        records.sort_by_key(|r| (r.time, r.tran_id));
        for record in records {
            let fresh = {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.len() > MAX_SEEN {
                    seen.clear();
                }
                seen.insert(record.tran_id)
            };
            if !fresh {
                continue;
            }
            self.hub.publish(
                common::Venue::UsdmPerp,
                record.time,
                Event::FundingFee(pb::FundingFee {
                    symbol: record.symbol.clone(),
                    asset: record.asset.clone(),
                    amount: dec(record.income),
                    funding_rate: String::new(),
                    position_amt: String::new(),
                    funding_time: Some(ts(record.time)),
                    income_id: record.tran_id.to_string(),
                }),
            );
        }
    }
}
