#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each one for a short time (FUZZ_SECONDS, 25 s
# by default; four targets stay under four minutes with the build warm). Needs the nightly
# toolchain and cargo-fuzz; without them it says why and exits 0, so CI on a stable-only machine
# is not blocked. A crash fails the script and leaves the reproducer in fuzz/artifacts/<target>/.
#
#   .ci/fuzz.sh                                   # every target, 25 s each
#   FUZZ_SECONDS=600 .ci/fuzz.sh sim_params       # one target, 10 minutes
#
# Replay a crash: cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-<hash>
# See docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${FUZZ_SECONDS:-25}
all_targets=(binance_models sim_params config_load proto_convert)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

skip() { echo "fuzz: skipped: $*"; exit 0; }
command -v cargo >/dev/null 2>&1 || skip "cargo not found"
cargo +nightly --version >/dev/null 2>&1 || skip "no nightly toolchain (rustup toolchain install nightly)"
cargo +nightly fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz not installed (cargo install cargo-fuzz)"

# Its own target dir: sanitizer-coverage flags would otherwise invalidate the workspace build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/fuzz}

# Seed corpora: Binance's documented payloads, the shipped config, hand-written requests and a
# few encoded protobuf messages. Copied (small files only) into the git-ignored fuzz/corpus/,
# where libFuzzer also keeps what it finds, so later runs start from there.
fixtures=$root/../shared/fixtures/binance
seed() { # seed <target> <files...>
  local dir=fuzz/corpus/$1
  shift
  mkdir -p "$dir"
  for f in "$@"; do
    [ -f "$f" ] && [ "$(wc -c <"$f")" -le 65536 ] && cp -n "$f" "$dir/" || true
  done
}
shopt -s nullglob
seed binance_models "$fixtures"/*.json crates/fff-binance/test_data/*.json
seed sim_params fuzz/seeds/sim_params/*
seed config_load config/*.toml fuzz/seeds/config_load/*
mkdir -p fuzz/corpus/proto_convert
# SymbolFilters{tick_size:"0.01", step_size:"0.001"}, Timestamp{seconds:1700000000},
# PlaceOrderRequest{client_order_id:"a", venue:1, symbol:"BTCUSDT", quantity:"-1"}, raw text.
printf '\x0a\x040.01\x12\x050.001' >fuzz/corpus/proto_convert/symbol_filters
printf '\x08\x80\xe2\xcf\xaa\x06' >fuzz/corpus/proto_convert/timestamp
printf '\x0a\x01a\x10\x01\x1a\x07BTCUSDT\x3a\x02-1' >fuzz/corpus/proto_convert/place_order
printf '12.50' >fuzz/corpus/proto_convert/decimal
printf 'BTCUSDT' >fuzz/corpus/proto_convert/symbol

# Release build with debug assertions and overflow checks (cargo-fuzz's default without -O); no
# AddressSanitizer: fff forbids unsafe code, and ASan would halve the executions per second.
flags=(--sanitizer none)
echo "fuzz: building ${targets[*]} ($(cargo +nightly fuzz --version))"
(cd fuzz && cargo +nightly fuzz build "${flags[@]}")

status=0
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s"
  if ! (cd fuzz && cargo +nightly fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1); then
    echo "fuzz: $target FAILED; reproducer in fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit "$status"
