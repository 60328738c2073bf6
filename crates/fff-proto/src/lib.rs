//! gRPC contracts of the fff services: generated prost messages, tonic clients
//! and servers, the encoded descriptor set for server reflection, the lists of
//! state-changing methods the auth layer guards, and the conversion helpers
//! used at the service edge (decimal strings, timestamps, enums).
//!
//! Wire types stop at the service edge: handlers convert them with
//! [`convert`] and hand domain types inward.

pub mod convert;
mod methods;

pub use convert::{FieldError, Problem};
pub use methods::{ALL_MUTATING_METHODS, is_mutating};

/// Generated code, one module per protobuf package (`fff.gateway.v1` is
/// `fff::gateway::v1`).
pub mod fff {
    /// Shared enums and messages.
    pub mod common {
        /// `fff.common.v1`.
        // Generated oneofs hold messages inline; boxing them would make every
        // handler's code noisier for a few hundred bytes per event.
        #[allow(clippy::large_enum_variant)]
        pub mod v1 {
            tonic::include_proto!("fff.common.v1");
        }
    }

    /// Exchange gateway.
    pub mod gateway {
        /// `fff.gateway.v1`.
        // Generated oneofs hold messages inline; boxing them would make every
        // handler's code noisier for a few hundred bytes per event.
        #[allow(clippy::large_enum_variant)]
        pub mod v1 {
            tonic::include_proto!("fff.gateway.v1");

            /// Fully-qualified gRPC paths of the gateway methods that change state.
            pub const MUTATING_METHODS: &[&str] = &[
                "/fff.gateway.v1.Gateway/PlaceOrder",
                "/fff.gateway.v1.Gateway/CancelOrder",
                "/fff.gateway.v1.Gateway/CancelAllOrders",
                "/fff.gateway.v1.Gateway/SetLeverage",
                "/fff.gateway.v1.Gateway/SetMarginType",
                "/fff.gateway.v1.Gateway/Borrow",
                "/fff.gateway.v1.Gateway/Repay",
                "/fff.gateway.v1.Gateway/Transfer",
            ];
        }
    }

    /// Market scanner.
    pub mod scanner {
        /// `fff.scanner.v1`.
        // Generated oneofs hold messages inline; boxing them would make every
        // handler's code noisier for a few hundred bytes per event.
        #[allow(clippy::large_enum_variant)]
        pub mod v1 {
            tonic::include_proto!("fff.scanner.v1");

            /// The scanner is read-only: no method changes state.
            pub const MUTATING_METHODS: &[&str] = &[];
        }
    }

    /// Position executor.
    pub mod executor {
        /// `fff.executor.v1`.
        // Generated oneofs hold messages inline; boxing them would make every
        // handler's code noisier for a few hundred bytes per event.
        #[allow(clippy::large_enum_variant)]
        pub mod v1 {
            tonic::include_proto!("fff.executor.v1");

            /// Fully-qualified gRPC paths of the executor methods that change state.
            pub const MUTATING_METHODS: &[&str] = &[
                "/fff.executor.v1.Executor/OpenPosition",
                "/fff.executor.v1.Executor/ClosePosition",
                "/fff.executor.v1.Executor/FlipPosition",
                "/fff.executor.v1.Executor/Pause",
                "/fff.executor.v1.Executor/Resume",
            ];
        }
    }

    /// Risk supervision.
    pub mod risk {
        /// `fff.risk.v1`.
        // Generated oneofs hold messages inline; boxing them would make every
        // handler's code noisier for a few hundred bytes per event.
        #[allow(clippy::large_enum_variant)]
        pub mod v1 {
            tonic::include_proto!("fff.risk.v1");

            /// Fully-qualified gRPC paths of the risk methods that change state
            /// (both persist a record).
            pub const MUTATING_METHODS: &[&str] = &[
                "/fff.risk.v1.Risk/AckDirective",
                "/fff.risk.v1.Risk/RequestApproval",
            ];
        }
    }

    /// Rebalancer.
    pub mod rebalancer {
        /// `fff.rebalancer.v1`.
        // Generated oneofs hold messages inline; boxing them would make every
        // handler's code noisier for a few hundred bytes per event.
        #[allow(clippy::large_enum_variant)]
        pub mod v1 {
            tonic::include_proto!("fff.rebalancer.v1");

            /// Fully-qualified gRPC paths of the rebalancer methods that change state.
            pub const MUTATING_METHODS: &[&str] = &["/fff.rebalancer.v1.Rebalancer/TriggerNow"];
        }
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of every fff `.proto` file plus
/// its imports (with comments), for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("fff_descriptor");
