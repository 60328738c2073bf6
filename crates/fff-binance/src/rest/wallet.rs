//! Wallet endpoints (`/sapi/v1/asset/*`): universal transfers between the account's own spot,
//! cross-margin and USDⓈ-M futures wallets. The key needs "Permits Universal Transfer"
//! (`-2015` otherwise); withdrawals are never needed.

use reqwest::Method;
use rust_decimal::Decimal;

use super::{Endpoint, Host, Params, RestClient, Security};
use crate::error::{Error, Result};
use crate::limiter::{Cost, Scope};
use crate::models::margin::TranId;
use crate::models::wallet::{TransferPage, TransferType};

/// Most rows one history page may hold (Binance's maximum).
pub const MAX_TRANSFER_PAGE: u32 = 100;

impl RestClient {
    /// `POST /sapi/v1/asset/transfer` (weight 900 UID): moves `amount` of `asset` in the
    /// direction `kind` (e.g. [`TransferType::MainUmfuture`], spot → USDⓈ-M futures). Sent
    /// exactly once: after an unknown outcome look for it with
    /// [`RestClient::universal_transfer_history`] (Binance takes no client id here). Too little
    /// transferable balance is a definite rejection ([`Error::Api`] with the venue's code, e.g.
    /// `-3020` out of cross margin, `-2010` from `fff sim`); so is `-2015` for a key without
    /// "Permits Universal Transfer". A non-positive amount or empty asset is refused before
    /// sending ([`Error::InvalidRequest`]).
    pub async fn universal_transfer(
        &self,
        kind: TransferType,
        asset: &str,
        amount: Decimal,
    ) -> Result<TranId> {
        if amount <= Decimal::ZERO {
            return Err(Error::InvalidRequest(format!(
                "transfer amount must be greater than 0, got {amount}"
            )));
        }
        if asset.is_empty() {
            return Err(Error::InvalidRequest("transfer asset is empty".into()));
        }
        let endpoint = Endpoint::new(
            Method::POST,
            Host::Spot,
            "/sapi/v1/asset/transfer",
            Security::Signed,
            Scope::SapiUid,
            Cost::weight(900),
        );
        let params = Params::new()
            .push("type", kind.as_str())
            .push("asset", asset)
            .push("amount", amount.normalize());
        self.send(&endpoint, params).await
    }

    /// `GET /sapi/v1/asset/transfer` (weight 1 IP): universal transfers of one `kind`, newest
    /// first; without a time range Binance returns the last 7 days. `size` is capped at
    /// [`MAX_TRANSFER_PAGE`].
    pub async fn universal_transfer_history(
        &self,
        kind: TransferType,
        start_time: Option<i64>,
        end_time: Option<i64>,
        size: Option<u32>,
    ) -> Result<TransferPage> {
        let endpoint = Endpoint::new(
            Method::GET,
            Host::Spot,
            "/sapi/v1/asset/transfer",
            Security::Signed,
            Scope::SapiIp,
            Cost::weight(1),
        );
        let params = Params::new()
            .push("type", kind.as_str())
            .opt("startTime", start_time)
            .opt("endTime", end_time)
            .opt("size", size.map(|s| s.clamp(1, MAX_TRANSFER_PAGE)));
        self.send(&endpoint, params).await
    }
}
