//! Every RPC of every fff service called with random and garbage field values, every role its own
//! process: the calls are answered with a deliberate status (OK, INVALID_ARGUMENT,
//! FAILED_PRECONDITION, NOT_FOUND, ...), never INTERNAL/UNKNOWN from a panic; every role is still
//! alive and serving afterwards; and a rejected call writes nothing (no simulator order, no
//! balance change, no `positions`/`orders` row).
//!
//! The methods and their request messages come from the descriptor set (`FILE_DESCRIPTOR_SET`),
//! so a new RPC is fuzzed without touching this file. Requests are encoded field by field from a
//! fixed-seed generator: a failure prints the seed, method and request, and replays exactly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use fff_executor::reexport::fff_store::{PositionState, Store};
use fff_testkit::{free_port, test_database};
use prost::Message as _;
use prost::bytes::{Buf as _, BufMut as _};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::harness::{
    RoleProcess, SimProcess, TOKEN, channel, serving, start_gateway, start_role,
    start_role_listening, start_role_on, start_sim,
};

/// Fixed seed: a failure replays with the same calls.
const SEED: u64 = 0x0fff_f022_2026_1203;
/// Calls per RPC (40 RPCs, about 1 ms to 50 ms each).
const CALLS_PER_METHOD: usize = 16;
/// Nesting limit of generated messages.
const MAX_DEPTH: usize = 3;

/// Codes a role may answer garbage with; INTERNAL, UNKNOWN, DATA_LOSS and UNIMPLEMENTED may not.
const ACCEPTED: &[Code] = &[
    Code::Ok,
    Code::InvalidArgument,
    Code::FailedPrecondition,
    Code::NotFound,
    Code::OutOfRange,
    Code::AlreadyExists,
    Code::Aborted,
    Code::ResourceExhausted,
    Code::PermissionDenied,
    Code::Unauthenticated,
    Code::Unavailable,
    Code::DeadlineExceeded,
    Code::Cancelled,
];

/// Methods whose acceptance starts changes that go on after the call returns (fills of a resting
/// order, TWAP slices of an entry, interest on a loan at the hour): after the first accepted one
/// the test stops comparing whole snapshots and keeps only the per-order check. Every other
/// accepted mutating call (Transfer, Repay, cancels, leverage, Pause/Resume, acks) changes state
/// synchronously, so the baseline is simply retaken after it.
const ASYNC_EFFECTS: &[&str] = &[
    "PlaceOrder",
    "Borrow",
    "OpenPosition",
    "ClosePosition",
    "FlipPosition",
];

/// splitmix64: small, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Garbage and near-valid strings: decimals that are empty, negative, huge, too precise,
/// NaN-like or malformed; symbols that are lowercase, overlong or not ASCII; ids of every shape.
fn string_value(rng: &mut Rng, field: &str) -> String {
    const PALETTE: &[&str] = &[
        "",
        "0",
        "-0",
        "-1",
        "1",
        "0.5",
        "100",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e309",
        "1e-7",
        "79228162514264337593543950336",
        "-79228162514264337593543950335",
        "0.00000000000000000000000000001",
        "1.2.3",
        " 12 ",
        "+5",
        ".5",
        "5.",
        "0x10",
        "BTCUSDT",
        "ETHUSDT",
        "btcusdt",
        "BTC-USDT",
        "BTCUSDT\n",
        "💥",
        "\u{0}",
        "'; DROP TABLE orders; --",
        "${jndi:ldap://x}",
        "%s%s%s",
        "../../etc/passwd",
    ];
    match rng.below(10) {
        0 => "X".repeat(1 + rng.below(4096)),
        1 => "9".repeat(1 + rng.below(80)),
        2 => format!("fz-{}", rng.next()),
        3 => (0..rng.below(40))
            .map(|_| char::from(32 + rng.below(95) as u8))
            .collect(),
        4 if field.contains("symbol") => {
            format!("{}USDT", "A".repeat(1 + rng.below(64)))
        }
        _ => (*rng.pick(PALETTE)).to_owned(),
    }
}

fn varint_value(rng: &mut Rng, kind: Type) -> u64 {
    const SIGNED: &[i64] = &[
        0,
        1,
        -1,
        2,
        3,
        7,
        100,
        1000,
        i32::MAX as i64,
        i32::MIN as i64,
        i64::MAX,
        i64::MIN,
    ];
    const UNSIGNED: &[u64] = &[0, 1, 2, 5, 8, 125, 1000, u32::MAX as u64, u64::MAX];
    match kind {
        Type::Bool => rng.next() % 2,
        Type::Uint32 | Type::Uint64 => *rng.pick(UNSIGNED),
        // proto3 encodes negative int32/enum values as 10-byte varints of the sign-extended i64
        Type::Enum => *rng.pick(&[
            0i64,
            1,
            2,
            3,
            4,
            5,
            -1,
            99,
            i32::MAX as i64,
            i32::MIN as i64,
        ]) as u64,
        Type::Int32 => {
            let v = *rng.pick(SIGNED);
            i64::from(v as i32) as u64
        }
        Type::Sint32 => {
            let v = *rng.pick(SIGNED) as i32;
            u64::from(((v << 1) ^ (v >> 31)) as u32)
        }
        Type::Sint64 => {
            let v = *rng.pick(SIGNED);
            ((v << 1) ^ (v >> 63)) as u64
        }
        _ => *rng.pick(SIGNED) as u64,
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, number: i32, wire_type: u8) {
    put_varint(out, ((number as u64) << 3) | u64::from(wire_type));
}

fn put_bytes(out: &mut Vec<u8>, number: i32, bytes: &[u8]) {
    put_key(out, number, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Message descriptors by fully-qualified name (`.fff.gateway.v1.PlaceOrderRequest`).
struct Schema {
    messages: HashMap<String, DescriptorProto>,
}

impl Schema {
    fn load() -> (Self, Vec<(String, String, String, bool)>) {
        let set = FileDescriptorSet::decode(fff_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let mut messages = HashMap::new();
        let mut methods = Vec::new();
        fn index(
            prefix: &str,
            message: &DescriptorProto,
            out: &mut HashMap<String, DescriptorProto>,
        ) {
            let name = format!("{prefix}.{}", message.name());
            for nested in &message.nested_type {
                index(&name, nested, out);
            }
            out.insert(name, message.clone());
        }
        for file in &set.file {
            let prefix = format!(".{}", file.package());
            for message in &file.message_type {
                index(&prefix, message, &mut messages);
            }
            for service in &file.service {
                if !file.package().starts_with("fff.") {
                    continue;
                }
                let full = format!("{}.{}", file.package(), service.name());
                for method in &service.method {
                    methods.push((
                        full.clone(),
                        method.name().to_owned(),
                        method.input_type().to_owned(),
                        method.server_streaming(),
                    ));
                }
            }
        }
        (Self { messages }, methods)
    }

    /// A random encoding of `type_name`: every field present or not, each with a random value.
    fn encode(&self, rng: &mut Rng, type_name: &str, depth: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(message) = self.messages.get(type_name) else {
            return out;
        };
        for field in &message.field {
            if !rng.chance(75) {
                continue;
            }
            let repeats = if field.label() == Label::Repeated {
                rng.below(4)
            } else {
                1
            };
            for _ in 0..repeats {
                self.encode_field(rng, field, depth, &mut out);
            }
        }
        out
    }

    fn encode_field(
        &self,
        rng: &mut Rng,
        field: &FieldDescriptorProto,
        depth: usize,
        out: &mut Vec<u8>,
    ) {
        let number = field.number();
        match field.r#type() {
            Type::String => put_bytes(out, number, string_value(rng, field.name()).as_bytes()),
            Type::Bytes => {
                let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
                put_bytes(out, number, &bytes);
            }
            Type::Message | Type::Group => {
                if depth < MAX_DEPTH {
                    let inner = self.encode(rng, field.type_name(), depth + 1);
                    put_bytes(out, number, &inner);
                }
            }
            Type::Double => {
                put_key(out, number, 1);
                let v = *rng.pick(&[
                    0.0,
                    -1.0,
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    1e308,
                    f64::MIN_POSITIVE,
                ]);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Type::Float => {
                put_key(out, number, 5);
                let v = *rng.pick(&[0.0f32, -1.0, f32::NAN, f32::INFINITY, f32::MAX]);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Type::Fixed64 | Type::Sfixed64 => {
                put_key(out, number, 1);
                out.extend_from_slice(&rng.next().to_le_bytes());
            }
            Type::Fixed32 | Type::Sfixed32 => {
                put_key(out, number, 5);
                out.extend_from_slice(&(rng.next() as u32).to_le_bytes());
            }
            kind => {
                put_key(out, number, 0);
                put_varint(out, varint_value(rng, kind));
            }
        }
    }
}

/// Passes request and response bodies through as raw protobuf bytes.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;
#[derive(Debug, Clone, Copy, Default)]
struct RawEncoder;
#[derive(Debug, Clone, Copy, Default)]
struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// Sends one raw request and returns the status it ended with (for a stream: the status of the
/// call or of its first message; a stream still open after a moment counts as OK).
async fn call(channel: &Channel, path: &str, body: Vec<u8>, streaming: bool) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    if let Err(e) = grpc.ready().await {
        return Status::unavailable(format!("not ready: {e}"));
    }
    let mut request = Request::new(body);
    request.set_timeout(Duration::from_secs(5));
    let token = MetadataValue::try_from(format!("Bearer {TOKEN}")).expect("ascii token");
    request.metadata_mut().insert("authorization", token);
    let path = PathAndQuery::from_str(path).expect("method path");
    let outcome = async {
        if streaming {
            let mut stream = grpc
                .server_streaming(request, path, RawCodec)
                .await?
                .into_inner();
            match tokio::time::timeout(Duration::from_millis(150), stream.message()).await {
                Ok(Err(status)) => Err(status),
                _ => Ok(()),
            }
        } else {
            grpc.unary(request, path, RawCodec).await.map(|_| ())
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), outcome).await {
        Ok(Ok(())) => Status::ok(""),
        Ok(Err(status)) => status,
        Err(_) => Status::deadline_exceeded("no answer within 10 s"),
    }
}

/// Every role of the test, each its own process, plus the database they share.
struct Stack {
    _db: fff_testkit::TestDb,
    sim: SimProcess,
    roles: Vec<(&'static str, RoleProcess)>,
    store: Store,
}

impl Stack {
    async fn start() -> Self {
        let db = test_database().await.unwrap();
        let sim = start_sim().await.unwrap();
        let gateway = start_gateway(&sim, &[]).await.unwrap();
        let gateway_url = format!("http://{}", gateway.addr);
        let executor_port = free_port().unwrap();
        let rebalancer_port = free_port().unwrap();
        let common = vec![
            ("DATABASE_URL".to_owned(), db.url().to_owned()),
            ("FFF_SERVICES__GATEWAY".to_owned(), gateway_url.clone()),
            (
                "FFF_SERVICES__EXECUTOR".to_owned(),
                format!("http://127.0.0.1:{executor_port}"),
            ),
            (
                "FFF_SERVICES__REBALANCER".to_owned(),
                format!("http://127.0.0.1:{rebalancer_port}"),
            ),
        ];
        let refs = |env: &[(String, String)]| -> Vec<(String, String)> { env.to_vec() };
        fn as_str(env: &[(String, String)]) -> Vec<(&str, &str)> {
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
        }
        let risk = start_role_listening("risk", &as_str(&common))
            .await
            .unwrap();
        let risk_url = format!("http://{}", risk.addr);
        let scanner = start_role(
            "scanner",
            &[("FFF_SERVICES__GATEWAY", gateway_url.as_str())],
        )
        .await
        .unwrap();
        // The executor gets no scanner (a closed port): it trades only what a fuzzed call asks.
        let mut executor_env = refs(&common);
        executor_env.push(("FFF_SERVICES__RISK".into(), risk_url.clone()));
        executor_env.push((
            "FFF_SERVICES__SCANNERS".into(),
            "[\"http://127.0.0.1:9\"]".into(),
        ));
        let executor = start_role_on("executor", executor_port, &as_str(&executor_env))
            .await
            .unwrap();
        let mut rebalancer_env = refs(&common);
        rebalancer_env.push(("FFF_SERVICES__RISK".into(), risk_url));
        let rebalancer = start_role_on("rebalancer", rebalancer_port, &as_str(&rebalancer_env))
            .await
            .unwrap();
        let store = Store::connect(db.url(), 2).await.unwrap();
        Self {
            _db: db,
            sim,
            roles: vec![
                ("gateway", gateway),
                ("scanner", scanner),
                ("executor", executor),
                ("risk", risk),
                ("rebalancer", rebalancer),
            ],
            store,
        }
    }

    fn addr_of(&self, service: &str) -> SocketAddr {
        let role = match service {
            "fff.gateway.v1.Gateway" => "gateway",
            "fff.scanner.v1.Scanner" => "scanner",
            "fff.executor.v1.Executor" => "executor",
            "fff.risk.v1.Risk" => "risk",
            "fff.rebalancer.v1.Rebalancer" => "rebalancer",
            other => panic!("no role serves {other}"),
        };
        self.roles
            .iter()
            .find(|(name, _)| *name == role)
            .map(|(_, p)| p.addr)
            .expect("role started")
    }

    /// Every role process still running and its health service answering.
    async fn assert_alive(&mut self, after: &str) {
        for (name, role) in &mut self.roles {
            let exited = role.child.try_wait().expect("try_wait");
            assert!(exited.is_none(), "{name} exited ({exited:?}) after {after}");
            let addr = role.addr;
            let answering = tokio::time::timeout(Duration::from_secs(5), async {
                let channel = Channel::from_shared(format!("http://{addr}"))
                    .ok()?
                    .connect()
                    .await
                    .ok()?;
                tonic_health::pb::health_client::HealthClient::new(channel)
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .ok()
            })
            .await
            .ok()
            .flatten();
            assert!(
                answering.is_some(),
                "{name} does not answer health after {after}"
            );
        }
    }

    /// What a rejected call must not change: the venue's orders, balances, loans and positions,
    /// and the executor's positions and orders.
    async fn snapshot(&self) -> String {
        let state = self.sim.http("GET", "/admin/state", "").await;
        let mut venue = serde_json::Map::new();
        for key in ["spot", "margin", "positions", "orders", "liquidations"] {
            venue.insert(key.to_owned(), state.get(key).cloned().unwrap_or_default());
        }
        if let Some(wallet) = state.pointer("/futures/walletBalance") {
            venue.insert("futuresWallet".to_owned(), wallet.clone());
        }
        let positions = self
            .store
            .list_positions(PositionState::ALL)
            .await
            .expect("positions readable");
        let mut orders = self
            .store
            .list_unfinished_orders()
            .await
            .expect("orders readable");
        for position in &positions {
            orders.extend(
                self.store
                    .list_position_orders(position.id)
                    .await
                    .expect("orders"),
            );
        }
        let books: Vec<String> = positions
            .iter()
            .map(|p| format!("{}:{}:{:?}", p.id, p.symbol, p.state))
            .chain(
                orders
                    .iter()
                    .map(|o| format!("{}:{}", o.id, o.client_order_id)),
            )
            .collect();
        format!("{}\n{books:?}", serde_json::Value::Object(venue))
    }

    /// No simulator order and no `orders` row carries `client_order_id`.
    async fn assert_no_order(&self, client_order_id: &str, context: &str) {
        if client_order_id.is_empty() {
            return;
        }
        let state = self.sim.http("GET", "/admin/state", "").await;
        let at_venue = state["orders"].as_array().is_some_and(|orders| {
            orders
                .iter()
                .any(|o| o["clientOrderId"].as_str() == Some(client_order_id))
        });
        assert!(
            !at_venue,
            "rejected {context} left a simulator order {client_order_id:?}"
        );
        let row = self
            .store
            .get_order(client_order_id)
            .await
            .expect("orders readable");
        assert!(
            row.is_none(),
            "rejected {context} left an orders row {client_order_id:?}"
        );
    }
}

/// Field 1 (`client_order_id`) of an encoded PlaceOrderRequest, if any.
fn client_order_id(body: &[u8]) -> String {
    fff_proto::fff::gateway::v1::PlaceOrderRequest::decode(body)
        .map(|r| r.client_order_id)
        .unwrap_or_default()
}

#[tokio::test]
async fn every_rpc_survives_random_and_garbage_fields() {
    let started = Instant::now();
    let (schema, methods) = Schema::load();
    assert!(
        methods.len() >= 35,
        "descriptor set lists {} methods",
        methods.len()
    );
    let mut stack = Stack::start().await;
    let mut rng = Rng(SEED);
    let mut channels: HashMap<SocketAddr, Channel> = HashMap::new();
    let mut tally: HashMap<Code, usize> = HashMap::new();
    // Until a call with lasting effects is accepted the whole state must stay put across rejected
    // calls; afterwards (fills, TWAP slices, interest may follow) only the per-order check applies.
    let mut quiet = true;
    let mut state_checked = 0usize;
    // The executor sweeps idle spot USDT into cross margin once it starts: wait until the state
    // holds still for two seconds before any rejected call is compared against it.
    let mut baseline = stack.snapshot().await;
    let settle_by = Instant::now() + Duration::from_secs(30);
    let mut still = 0;
    while still < 2 && Instant::now() < settle_by {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = stack.snapshot().await;
        still = if now == baseline { still + 1 } else { 0 };
        baseline = now;
    }
    for (service, method, input, streaming) in &methods {
        let addr = stack.addr_of(service);
        let channel = match channels.get(&addr) {
            Some(open) => open.clone(),
            None => {
                let open = channel(addr).await;
                channels.insert(addr, open.clone());
                open
            }
        };
        let path = format!("/{service}/{method}");
        let mutating = fff_proto::is_mutating(&path);
        for round in 0..CALLS_PER_METHOD {
            let body = schema.encode(&mut rng, input, 0);
            let status = call(&channel, &path, body.clone(), *streaming).await;
            *tally.entry(status.code()).or_default() += 1;
            let context = format!(
                "{path} round {round} (seed {SEED:#x}) request {body:02x?} -> {:?} {:?}",
                status.code(),
                status.message()
            );
            assert!(
                ACCEPTED.contains(&status.code()),
                "unexpected status: {context}"
            );
            if !mutating {
                continue;
            }
            let accepted = status.code() == Code::Ok;
            if method == "PlaceOrder" && !accepted {
                stack
                    .assert_no_order(&client_order_id(&body), &context)
                    .await;
            }
            if accepted && quiet && ASYNC_EFFECTS.contains(&method.as_str()) {
                quiet = false;
                eprintln!(
                    "grpc fuzz: whole-state checks end at the first call with lasting effects: {context}"
                );
            }
            if quiet {
                let now = stack.snapshot().await;
                if !accepted {
                    assert_eq!(baseline, now, "rejected call changed state: {context}");
                    state_checked += 1;
                }
                baseline = now;
            }
        }
        stack.assert_alive(&path).await;
    }
    eprintln!(
        "grpc fuzz: {} methods x {CALLS_PER_METHOD} calls in {:?}; statuses {tally:?}; \
         {state_checked} rejected mutating calls checked for no state change",
        methods.len(),
        started.elapsed()
    );
    assert!(serving(stack.addr_of("fff.gateway.v1.Gateway")).await);
}
