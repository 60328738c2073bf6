//! Wallet (`/sapi/v1/asset/*`) wire structs: universal transfers between the account's own
//! spot, cross-margin and USDⓈ-M futures wallets.

use rust_decimal::Decimal;
use serde::Deserialize;

/// One of the account's wallets the farmer moves funds between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wallet {
    /// The spot wallet (`MAIN` in transfer types).
    Spot,
    /// The cross-margin wallet (`MARGIN`).
    CrossMargin,
    /// The USDⓈ-M futures wallet (`UMFUTURE`).
    UsdmFutures,
}

impl Wallet {
    /// The wallet's name inside a transfer type.
    pub fn as_str(self) -> &'static str {
        match self {
            Wallet::Spot => "MAIN",
            Wallet::CrossMargin => "MARGIN",
            Wallet::UsdmFutures => "UMFUTURE",
        }
    }
}

/// `type` of `POST /sapi/v1/asset/transfer`: the six directions between spot, cross margin and
/// USDⓈ-M futures (Binance has more, for COIN-M, isolated margin, funding ...; the farmer
/// does not use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferType {
    MainUmfuture,
    UmfutureMain,
    MainMargin,
    MarginMain,
    UmfutureMargin,
    MarginUmfuture,
}

impl TransferType {
    pub const ALL: [TransferType; 6] = [
        TransferType::MainUmfuture,
        TransferType::UmfutureMain,
        TransferType::MainMargin,
        TransferType::MarginMain,
        TransferType::UmfutureMargin,
        TransferType::MarginUmfuture,
    ];

    /// The transfer type moving funds `from` → `to`; `None` when both are the same wallet.
    pub fn between(from: Wallet, to: Wallet) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.from() == from && t.to() == to)
    }

    pub fn from(self) -> Wallet {
        match self {
            TransferType::MainUmfuture | TransferType::MainMargin => Wallet::Spot,
            TransferType::UmfutureMain | TransferType::UmfutureMargin => Wallet::UsdmFutures,
            TransferType::MarginMain | TransferType::MarginUmfuture => Wallet::CrossMargin,
        }
    }

    pub fn to(self) -> Wallet {
        match self {
            TransferType::UmfutureMain | TransferType::MarginMain => Wallet::Spot,
            TransferType::MainUmfuture | TransferType::MarginUmfuture => Wallet::UsdmFutures,
            TransferType::MainMargin | TransferType::UmfutureMargin => Wallet::CrossMargin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransferType::MainUmfuture => "MAIN_UMFUTURE",
            TransferType::UmfutureMain => "UMFUTURE_MAIN",
            TransferType::MainMargin => "MAIN_MARGIN",
            TransferType::MarginMain => "MARGIN_MAIN",
            TransferType::UmfutureMargin => "UMFUTURE_MARGIN",
            TransferType::MarginUmfuture => "MARGIN_UMFUTURE",
        }
    }
}

impl std::fmt::Display for TransferType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row of `GET /sapi/v1/asset/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferRecord {
    pub asset: String,
    pub amount: Decimal,
    /// The transfer type as Binance spells it (`MAIN_UMFUTURE` ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `CONFIRMED`, `PENDING` or `FAILED`.
    pub status: String,
    pub tran_id: i64,
    pub timestamp: i64,
}

impl TransferRecord {
    /// The transfer did not move the funds (and never will).
    pub fn failed(&self) -> bool {
        self.status == "FAILED"
    }
}

/// `GET /sapi/v1/asset/transfer`: one page, newest first. Binance leaves `rows` out when
/// `total` is 0.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransferPage {
    pub total: i64,
    #[serde(default)]
    pub rows: Vec<TransferRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use crate::models::margin::TranId;
    use rust_decimal_macros::dec;

    #[test]
    fn every_pair_of_distinct_wallets_has_one_type() {
        let wallets = [Wallet::Spot, Wallet::CrossMargin, Wallet::UsdmFutures];
        for from in wallets {
            for to in wallets {
                let kind = TransferType::between(from, to);
                if from == to {
                    assert_eq!(kind, None);
                } else {
                    let kind = kind.unwrap();
                    assert_eq!((kind.from(), kind.to()), (from, to));
                    assert_eq!(kind.as_str(), format!("{}_{}", from.as_str(), to.as_str()));
                }
            }
        }
        assert_eq!(
            TransferType::between(Wallet::Spot, Wallet::UsdmFutures)
                .unwrap()
                .as_str(),
            "MAIN_UMFUTURE"
        );
    }

    #[test]
    fn parses_transfer_and_history() {
        let tran: TranId = fixture::parse("sapi_v1_asset_transfer_POST.json");
        assert_eq!(tran.tran_id, 13526853623);
        let page: TransferPage = fixture::parse("sapi_v1_asset_transfer_GET.json");
        assert_eq!(page.total, 2);
        assert_eq!(page.rows[1].amount, dec!(2));
        assert_eq!(page.rows[0].kind, "MAIN_UMFUTURE");
        assert_eq!(page.rows[0].tran_id, 11415955596);
        assert!(!page.rows[0].failed());
        let empty: TransferPage = serde_json::from_str(r#"{"total":0}"#).unwrap();
        assert!(empty.rows.is_empty());
    }
}
