#!/usr/bin/env bash
# scripts/demo.sh — runs the hubwire demo on this machine: builds the wasm
# package (pkg/), starts the local IoT Hub emulator serving the dashboard
# (www/) and pkg/, prints the dashboard URL and the demo device's connection
# string, and waits. Ctrl-C stops it.
#
#   ./scripts/demo.sh                 free port
#   ./scripts/demo.sh --port 8080     any further arguments go to hubwire-emulator
#   ./scripts/demo.sh --smoke         start, check the dashboard answers, stop (used by test.sh)
#   HUBWIRE_SKIP_SETUP=1 ./scripts/demo.sh   skip the install checks

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HUBWIRE_ROOT=$ROOT
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"

SMOKE=""
ARGS=()
for a in "$@"; do
    if [ "$a" = "--smoke" ]; then SMOKE=1; else ARGS+=("$a"); fi
done
has_port=""
for a in "${ARGS[@]+"${ARGS[@]}"}"; do [ "$a" = "--port" ] && has_port=1; done
[ -n "$has_port" ] || ARGS=(--port 0 "${ARGS[@]+"${ARGS[@]}"}")

log() { printf '[demo] %s\n' "$*" >&2; }

[ -n "${HUBWIRE_SKIP_SETUP:-}" ] || ensure_build_tools

log "node packaging/web.mjs (wasm-pack build --target web --release into pkg/, and with --features dps into pkg-dps/)"
node packaging/web.mjs
# The dashboard loads the dps build (DeviceClient.fromProvisioning for its Provision mode).
node packaging/web.mjs --features dps --out-dir pkg-dps

log "cargo build -p hubwire-emulator"
cargo build -p hubwire-emulator
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hubwire-demo.XXXXXX")
READY="$RUN_DIR/ready.json"
EMU_PID=""
cleanup() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STATIC=()
[ -d www ] && STATIC=(--static www)
"$TARGET_DIR/debug/hubwire-emulator" "${ARGS[@]}" --ready-file "$READY" \
    "${STATIC[@]+"${STATIC[@]}"}" --pkg pkg-dps &
EMU_PID=$!

for _ in $(seq 1 300); do
    [ -s "$READY" ] && break
    kill -0 "$EMU_PID" 2>/dev/null || { log "the emulator exited before it was ready"; exit 1; }
    sleep 0.1
done
[ -s "$READY" ] || { log "the emulator was not ready after 30 s"; exit 1; }

read -r HTTP_URL WS_URL DEVICE_CS < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(r.httpUrl, r.wsUrl, (r.demoDevice && r.demoDevice.connectionString) || "-");
' "$READY")

cat <<EOF

  hubwire demo is running.

  Dashboard:                 $HTTP_URL/
  Device endpoint:           $WS_URL
  Demo device connection:    $DEVICE_CS
  Emulator details:          $HTTP_URL/emulator/info

  Press Ctrl-C to stop.

EOF

if [ -n "$SMOKE" ]; then
    node -e '
        const url = process.argv[1];
        fetch(url).then(async (r) => {
            const body = await r.text();
            if (!r.ok) { console.error(`GET ${url}: HTTP ${r.status}`); process.exit(1); }
            console.log(`GET ${url}: HTTP ${r.status}, ${body.length} bytes`);
        }).catch((e) => { console.error(`GET ${url}: ${e.message}`); process.exit(1); });
    ' "$HTTP_URL/"
    log "smoke check passed; stopping"
    exit 0
fi

wait "$EMU_PID"
