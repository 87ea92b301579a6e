#!/usr/bin/env bash
# scripts/bench.sh — hubwire's benchmarks in one command: installs what they need
# (scripts/setup.sh), builds release, runs bench/run.mjs in headless Chromium
# against the release emulator on loopback, and prints the figures
# (throughput, latency, bundle size, devices per tab; docs/benchmarks.md).
#
#   ./scripts/bench.sh            full run (~2 min after the builds): writes bench/results/latest.{json,md}
#   ./scripts/bench.sh --profile  also a Chromium CPU profile of the QoS 1 write path (bench/profile.mjs)
#   ./scripts/bench.sh --smoke    tiny counts, debug emulator + pkg/ (no release build); writes
#                                 artifacts/bench/; fails only if a measurement produced no number
#   HUBWIRE_SKIP_SETUP=1 ./scripts/bench.sh   skip the install checks

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HUBWIRE_ROOT=$ROOT
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"

SMOKE=""
EXTRA=()
for a in "$@"; do
    case "$a" in
    --smoke) SMOKE=1 ;;
    --profile) EXTRA+=(--profile) ;;
    *) echo "usage: $0 [--smoke] [--profile]" >&2; exit 2 ;;
    esac
done

log() { printf '[bench] %s\n' "$*" >&2; }

# The bench needs the build tools, Chromium and the root node_modules (playwright-core, mqtt, node@22).
if [ -z "${HUBWIRE_SKIP_SETUP:-}" ]; then
    ensure_build_tools && ensure_apt_packages chromium && ensure_npm_dir .
fi

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || NODE=$(command -v node)

if [ -n "$SMOKE" ]; then
    # What scripts/test.sh has already built: the debug emulator and pkg/.
    log "cargo build -p hubwire-emulator"
    cargo build -p hubwire-emulator
    if [ ! -f pkg/hubwire_bg.wasm ]; then
        log "node packaging/web.mjs (wasm-pack build --target web --release into pkg/)"
        "$NODE" packaging/web.mjs
    fi
    # The npm package from that pkg/ (no cargo: seconds), so the smoke measures what ships.
    "$NODE" packaging/build.mjs --wasm-dir pkg --out artifacts/bench/npm --no-pack
    exec "$NODE" bench/run.mjs --smoke --emulator "$TARGET_DIR/debug/hubwire-emulator" \
        --wasm-dir artifacts/bench/npm/hubwire/wasm --npm-dir artifacts/bench/npm/hubwire "${EXTRA[@]+"${EXTRA[@]}"}"
fi

log "cargo build --release -p hubwire-emulator"
cargo build --release -p hubwire-emulator
# The npm package as it ships (packaging/web.mjs builds pkg/, then minified JS), built into
# a directory of our own so a bench never rewrites pkg-npm/ under another suite.
NPM_OUT=artifacts/bench/npm
log "node packaging/build.mjs --out $NPM_OUT --no-pack (pkg/ by packaging/web.mjs, then the package)"
"$NODE" packaging/build.mjs --out "$NPM_OUT" --no-pack
exec "$NODE" bench/run.mjs --emulator "$TARGET_DIR/release/hubwire-emulator" \
    --wasm-dir "$NPM_OUT/hubwire/wasm" --npm-dir "$NPM_OUT/hubwire" "${EXTRA[@]+"${EXTRA[@]}"}"
