//! Enumerations stored as TEXT (mirroring the CHECK constraints in the migrations).
//!
//! TEXT plus CHECK instead of PostgreSQL enum types: adding a value is a plain migration, and
//! rows stay readable with psql.

use std::fmt;
use std::str::FromStr;

use sqlx::Postgres;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};

/// A stored text does not name a variant of the enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored (and Binance) spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as sqlx::Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $name {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<'_, Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as sqlx::Decode<'r, Postgres>>::decode(value)?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

text_enum! {
    /// Which leg is long.
    Direction {
        /// Positive funding: long spot, short perp.
        LongSpotShortPerp = "LONG_SPOT_SHORT_PERP",
        /// Negative funding: short spot via cross-margin borrow, long perp.
        ShortSpotLongPerp = "SHORT_SPOT_LONG_PERP",
    }
}

text_enum! {
    /// Life cycle of a hedge.
    PositionState {
        Opening = "OPENING",
        Open = "OPEN",
        Rebalancing = "REBALANCING",
        Closing = "CLOSING",
        Closed = "CLOSED",
        /// Needs an operator; the executor flattens what it can before setting it.
        Failed = "FAILED",
    }
}

impl PositionState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Closed | Self::Failed)
    }

    /// Allowed moves. Terminal states are final; any live state may fail or start closing.
    pub fn can_transition_to(self, to: Self) -> bool {
        use PositionState::*;
        if self.is_terminal() {
            return false;
        }
        match to {
            Failed | Closing => true,
            Open => matches!(self, Opening | Rebalancing | Closing),
            Rebalancing => self == Open,
            Closed => self == Closing,
            Opening => false,
        }
    }
}

text_enum! {
    /// Account an order is sent to.
    Venue {
        Spot = "SPOT",
        /// Cross margin (spot leg when shorting, or borrowing).
        Margin = "MARGIN",
        /// USD-M perpetual futures.
        Usdm = "USDM",
    }
}

text_enum! {
    /// Leg of a hedge an order belongs to.
    Leg {
        Spot = "SPOT",
        Perp = "PERP",
    }
}

text_enum! {
    Side {
        Buy = "BUY",
        Sell = "SELL",
    }
}

text_enum! {
    OrderType {
        Market = "MARKET",
        Limit = "LIMIT",
        LimitMaker = "LIMIT_MAKER",
        /// The venue's own order closing a perp (liquidation, auto-deleverage, settlement).
        Liquidation = "LIQUIDATION",
    }
}

text_enum! {
    /// A venue charge outside fills, funding and interest (Binance's income type).
    ChargeKind {
        /// Liquidation clearance fee, taken when the venue liquidates a perp.
        InsuranceClear = "INSURANCE_CLEAR",
    }
}

text_enum! {
    TimeInForce {
        Gtc = "GTC",
        Ioc = "IOC",
        Fok = "FOK",
        /// Post-only on USD-M.
        Gtx = "GTX",
    }
}

text_enum! {
    /// Cross-margin `sideEffectType`.
    SideEffect {
        NoSideEffect = "NO_SIDE_EFFECT",
        MarginBuy = "MARGIN_BUY",
        AutoRepay = "AUTO_REPAY",
        AutoBorrowRepay = "AUTO_BORROW_REPAY",
    }
}

text_enum! {
    /// Order life cycle as recorded locally.
    OrderStatus {
        /// Written before the request is sent.
        Intent = "INTENT",
        Sent = "SENT",
        Acked = "ACKED",
        PartiallyFilled = "PARTIALLY_FILLED",
        Filled = "FILLED",
        Canceled = "CANCELED",
        Rejected = "REJECTED",
        /// The send timed out or failed ambiguously: query the exchange by client_order_id.
        Unknown = "UNKNOWN",
        Expired = "EXPIRED",
    }
}

impl OrderStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired
        )
    }

    /// Progress rank: updates may only keep or raise it.
    fn rank(self) -> u8 {
        match self {
            Self::Intent => 0,
            Self::Sent | Self::Unknown => 1,
            Self::Acked => 2,
            Self::PartiallyFilled => 3,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired => 4,
        }
    }

    /// Whether an update to `to` may be applied to an order in `self`: never out of a terminal
    /// state and never backwards (a late ACK must not undo a fill). Same-status updates are
    /// allowed so that progress such as a larger executed quantity can be recorded.
    pub fn can_transition_to(self, to: Self) -> bool {
        !self.is_terminal() && to.rank() >= self.rank()
    }

    pub fn unfinished() -> impl Iterator<Item = Self> {
        Self::ALL.iter().copied().filter(|s| !s.is_terminal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(*status));
        }
        for state in PositionState::ALL {
            assert_eq!(state.to_string().parse::<PositionState>(), Ok(*state));
        }
        assert!("FILLED ".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn order_status_never_leaves_terminal_or_goes_back() {
        use OrderStatus::*;
        for from in OrderStatus::ALL.iter().filter(|s| s.is_terminal()) {
            for to in OrderStatus::ALL {
                assert!(!from.can_transition_to(*to), "{from} -> {to}");
            }
        }
        assert!(Intent.can_transition_to(Sent));
        assert!(Sent.can_transition_to(Unknown));
        assert!(Unknown.can_transition_to(Filled));
        assert!(PartiallyFilled.can_transition_to(PartiallyFilled));
        assert!(!PartiallyFilled.can_transition_to(Acked));
        assert!(!Acked.can_transition_to(Unknown));
        assert!(!Sent.can_transition_to(Intent));
    }

    #[test]
    fn position_transitions() {
        use PositionState::*;
        assert!(Opening.can_transition_to(Open));
        assert!(Open.can_transition_to(Rebalancing));
        assert!(Closing.can_transition_to(Closed));
        assert!(!Open.can_transition_to(Closed));
        assert!(!Closed.can_transition_to(Open));
        assert!(!Failed.can_transition_to(Closing));
        assert!(!Open.can_transition_to(Opening));
    }
}
