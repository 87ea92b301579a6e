#!/usr/bin/env bash
# scripts/test.sh — runs every hubwire test suite that exists, in order, and
# ends with one line `N passed, N failed` (exit status 1 if anything failed).
#
#   ./scripts/test.sh                    setup, then every suite in SUITES
#   ./scripts/test.sh wasm_test e2e      only these suites (the emulator starts when one needs it)
#   ./scripts/test.sh --list             list the suites
#   HUBWIRE_SKIP_SETUP=1 ./scripts/test.sh   skip the install checks (scripts/setup.sh)
#   HUBWIRE_REQUIRE_PEERS=0 ...          let peer tests skip when a peer is missing (default 1: they fail)
#
# ADDING A SUITE: write a function `suite_<name>` below that runs your tests
# and returns their exit status (or calls `skip "why"` and returns 0 when a tool it
# needs is missing and HUBWIRE_REQUIRE_PEERS=0), then add <name> to SUITES in the
# order it should run.
# Helpers: `need_emulator` (starts the emulator once, exports HUBWIRE_EMULATOR_*),
# `with_timeout SECS cmd...`, `node_tests DIR` (runs DIR's *.test.{mjs,js,cjs}
# with `node --test`). Output goes to the terminal and to artifacts/test-logs/<name>.log.
#
# COUNTING: from each suite's log, libtest lines (`test result: ok. N passed; M failed`,
# also printed by wasm-bindgen-test-runner), node --test lines (`# pass N` / `# fail N`,
# or `ℹ pass N` / `ℹ fail N`; cancelled counts as failed, skipped/todo as ignored) and plain `N passed, N failed` lines are added up.
# A suite that prints none of these counts as one check (1 passed or 1 failed by its
# exit status); a suite that exits non-zero without reporting a failure counts 1 failed.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
HUBWIRE_ROOT=$ROOT
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"

SUITES=(setup fmt clippy cargo_test fuzz wasm_build emulator demo wasm_test wasm_test_firefox wasm_test_webkit sdk_peer e2e runtimes fleet reliability bench)

LOG_DIR=${HUBWIRE_LOG_DIR:-$ROOT/artifacts/test-logs}
mkdir -p "$LOG_DIR"
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hubwire-test.XXXXXX")
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
GECKODRIVER=${GECKODRIVER:-$(command -v geckodriver || echo "$HOME/.cargo/bin/geckodriver")}
WEBKITDRIVER=${WEBKITDRIVER:-/usr/bin/WebKitWebDriver}
export HUBWIRE_REQUIRE_PEERS=${HUBWIRE_REQUIRE_PEERS:-1}
export HUBWIRE_CHROMIUM=${HUBWIRE_CHROMIUM:-/usr/bin/chromium}
export HUBWIRE_NODE_BIN="$ROOT/node_modules/.bin"   # node@22, deno, bun, workerd, tsc, vite
export CARGO_TERM_COLOR=never

# ---------------------------------------------------------------- helpers

with_timeout() {
    local secs=$1
    shift
    timeout -k 10 "$secs" "$@"
}

SUITE_SKIPPED=""
skip() {
    SUITE_SKIPPED="$*"
    echo "SKIP: $*"
}

# Node for the node --test suites: the lockfile's node@22 (global WebSocket), else the system's.
hubwire_node() {
    if [ -x "$HUBWIRE_NODE_BIN/node" ]; then echo "$HUBWIRE_NODE_BIN/node"; else command -v node; fi
}

# node_tests DIR: runs every *.test.{mjs,js,cjs} under DIR (not node_modules) with node --test.
node_tests() {
    local dir=$1 files
    mapfile -t files < <(find "$dir" -path '*/node_modules' -prune -o -type f \
        \( -name '*.test.mjs' -o -name '*.test.js' -o -name '*.test.cjs' \) -print | sort)
    if [ ${#files[@]} -eq 0 ]; then
        echo "$dir has no *.test.mjs / *.test.js / *.test.cjs files: a suite without tests fails"
        return 1
    fi
    echo "node $("$(hubwire_node)" --version) --test ${files[*]}"
    with_timeout "${HUBWIRE_NODE_TIMEOUT:-900}" "$(hubwire_node)" --test --test-reporter=spec "${files[@]}"
}

EMULATOR_PID=""

# Starts target/debug/hubwire-emulator once and exports HUBWIRE_EMULATOR_URL (http),
# HUBWIRE_EMULATOR_WS_URL, HUBWIRE_EMULATOR_HOST_NAME, HUBWIRE_DEVICE_CONNECTION_STRING
# (the demo device), HUBWIRE_SERVICE_CONNECTION_STRING, HUBWIRE_EMULATOR_READY_FILE,
# HUBWIRE_EMULATOR_LOG (its output).
need_emulator() {
    if [ -n "$EMULATOR_PID" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
        return 0
    fi
    with_timeout 1200 cargo build -p hubwire-emulator || return 1
    local ready="$RUN_DIR/emulator-ready.json" args i
    rm -f "$ready"
    args=(--port 0 --ready-file "$ready")
    # The dashboard's Provision mode needs the dps build (a superset of pkg/) when there is one.
    local pkg=pkg
    [ -f pkg-dps/hubwire.js ] && pkg=pkg-dps
    if [ -d www ] && [ -d $pkg ]; then args+=(--static www --pkg $pkg); fi
    echo "starting: $TARGET_DIR/debug/hubwire-emulator ${args[*]} (log: $LOG_DIR/emulator-process.log)"
    "$TARGET_DIR/debug/hubwire-emulator" "${args[@]}" >"$LOG_DIR/emulator-process.log" 2>&1 </dev/null 5>&- &
    EMULATOR_PID=$!
    export HUBWIRE_EMULATOR_LOG="$LOG_DIR/emulator-process.log" # the e2e secret scan reads it
    for i in $(seq 1 300); do
        if [ -s "$ready" ] && read_ready_file "$ready"; then
            echo "emulator up (pid $EMULATOR_PID): $HUBWIRE_EMULATOR_URL  $HUBWIRE_EMULATOR_WS_URL"
            return 0
        fi
        if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
            echo "emulator exited before it was ready:"
            tail -20 "$LOG_DIR/emulator-process.log"
            EMULATOR_PID=""
            return 1
        fi
        sleep 0.1
    done
    echo "emulator not ready after 30 s"
    stop_emulator
    return 1
}

read_ready_file() {
    local out
    out=$(node -e '
        const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const q = (s) => "\x27" + String(s ?? "").replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
        const v = {
          HUBWIRE_EMULATOR_URL: r.httpUrl, HUBWIRE_EMULATOR_WS_URL: r.wsUrl,
          HUBWIRE_EMULATOR_HOST_NAME: r.hostName, HUBWIRE_EMULATOR_TLS_PORT: r.tlsPort,
          HUBWIRE_EMULATOR_CERT_PATH: r.certPath,
          HUBWIRE_SERVICE_CONNECTION_STRING: r.serviceConnectionString,
          HUBWIRE_DEVICE_ID: r.demoDevice && r.demoDevice.deviceId,
          HUBWIRE_DEVICE_CONNECTION_STRING: r.demoDevice && r.demoDevice.connectionString,
        };
        if (!r.httpUrl || !r.wsUrl) process.exit(1);
        for (const [k, x] of Object.entries(v)) console.log(`export ${k}=${q(x)}`);
    ' "$1" 2>/dev/null) || return 1
    eval "$out"
    export HUBWIRE_EMULATOR_READY_FILE="$1"
}

stop_emulator() {
    if [ -n "$EMULATOR_PID" ]; then
        kill "$EMULATOR_PID" 2>/dev/null
        wait "$EMULATOR_PID" 2>/dev/null
        EMULATOR_PID=""
    fi
}

cleanup() {
    stop_emulator
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- suites

suite_setup() {
    if [ -n "${HUBWIRE_SKIP_SETUP:-}" ]; then
        skip "HUBWIRE_SKIP_SETUP is set"
        return 0
    fi
    ensure_all
}

suite_fmt() {
    cargo fmt --all --check
}

suite_clippy() {
    with_timeout 1200 cargo clippy --workspace --all-targets -- -D warnings || return 1
    # The wasm shell (src/wasm, cfg wasm32) and the wasm tests only exist for wasm32.
    with_timeout 900 cargo clippy -p hubwire --target wasm32-unknown-unknown --lib --tests -- -D warnings
}

suite_cargo_test() {
    echo "HUBWIRE_REQUIRE_PEERS=$HUBWIRE_REQUIRE_PEERS cargo test --workspace --no-fail-fast"
    with_timeout 1500 cargo test --workspace --no-fail-fast
}

# fuzz/ (not a workspace member): the targets compile, then each replays its committed
# seeds (fuzz/seeds/<target>) and runs briefly under libFuzzer with the stable-toolchain
# instrumentation of fuzz/README.md, with allocation limits (no unbounded allocation).
suite_fuzz() {
    local secs=${HUBWIRE_FUZZ_SECS:-6} t bins rc=0 seeds fuzz_target=${CARGO_TARGET_DIR:-$ROOT/fuzz/target}
    (cd fuzz && RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
        with_timeout 1200 cargo build --release --target x86_64-unknown-linux-gnu --bins) || return 1
    mapfile -t bins < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -vx hubwire-fuzz)
    for t in "${bins[@]}"; do
        mkdir -p "$RUN_DIR/corpus-$t" "$RUN_DIR/fuzz-artifacts"
        seeds=()
        [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
        echo "fuzz $t for ${secs}s (seeds: ${seeds[*]:-none})"
        if with_timeout $((secs + 60)) "$fuzz_target/x86_64-unknown-linux-gnu/release/$t" \
            -max_total_time="$secs" -artifact_prefix="$RUN_DIR/fuzz-artifacts/" \
            -rss_limit_mb=1024 -malloc_limit_mb=256 \
            "$RUN_DIR/corpus-$t" "${seeds[@]}" >"$LOG_DIR/fuzz-$t.log" 2>&1; then
            tail -1 "$LOG_DIR/fuzz-$t.log"
        else
            tail -40 "$LOG_DIR/fuzz-$t.log"
            echo "fuzz $t FAILED (full log: $LOG_DIR/fuzz-$t.log); crashing inputs:"
            mkdir -p artifacts/fuzz && cp -v "$RUN_DIR"/fuzz-artifacts/* artifacts/fuzz/ 2>/dev/null
            rc=1
        fi
    done
    return $rc
}

# The one build path (packaging/web.mjs): pkg/ (web target, wasm-opt with Cargo.toml's flags;
# it must instantiate in Node and a second wasm-opt must gain < 3 %), the npm package from it
# and its `--features dps` twin pkg-dps/ (packaging/build.mjs: minified JS, pkg-npm/), the size budgets of what a page loads from the
# package (packaging/sizes.mjs, packaging/size-budget.json), and the bundler target.
suite_wasm_build() {
    local node
    node=$(hubwire_node)
    with_timeout 1200 "$node" packaging/web.mjs || return 1
    # The provisioning build (cargo feature dps) for the hubwire/provisioning entry (docs/size.md).
    with_timeout 1200 "$node" packaging/web.mjs --features dps --out-dir pkg-dps || return 1
    with_timeout 300 "$node" packaging/build.mjs --wasm-dir pkg --dps-wasm-dir pkg-dps || return 1
    "$node" packaging/sizes.mjs pkg-npm/hubwire || return 1
    # The bundler flavour (what webpack/Rollup users of wasm-pack output import) must build
    # too; the npm package itself is assembled from the web target (docs/runtimes.md).
    with_timeout 1200 "$node" packaging/web.mjs --target bundler --out-dir target/hubwire-bundler || return 1
    local b=target/hubwire-bundler
    echo "bundler target: $b/hubwire_bg.wasm $(wc -c <$b/hubwire_bg.wasm) B (gzip $(gzip -9 -c $b/hubwire_bg.wasm | wc -c) B) + $b/hubwire_bg.js $(wc -c <$b/hubwire_bg.js) B (gzip $(gzip -9 -c $b/hubwire_bg.js | wc -c) B)"
}

suite_emulator() {
    need_emulator
}

suite_demo() {
    HUBWIRE_SKIP_SETUP=1 with_timeout 900 ./scripts/demo.sh --smoke 5>&-
}

WASM_TEST_PREFIX=()
# wasm_test_targets BROWSER-FLAGS...: `[WASM_TEST_PREFIX] wasm-pack test --headless BROWSER-FLAGS -- TARGET`
# for the lib and each tests/*.rs, one run per target so a failing target does not
# hide the others (wasm-pack hands extra args to `cargo build` too: no --no-fail-fast).
wasm_test_targets() {
    # Tests read HUBWIRE_EMULATOR_* at build time (option_env!), so start it first.
    need_emulator || return 1
    local targets=(--lib) f rc=0
    # wasm-bindgen-test's default is 20 s per target; the end-to-end targets run many
    # real reconnects against the emulator and need more on a loaded 2-core machine.
    export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-180}
    for f in tests/*.rs; do [ -f "$f" ] && targets+=("--test=$(basename "$f" .rs)"); done
    for f in "${targets[@]}"; do
        wasm_test_target "$f" "$@" || rc=1
    done
    return $rc
}

# wasm_test_target TARGET ARGS...: one target. wasm-bindgen-test-runner sometimes never
# starts a page's tests (its output div stays at "Loading scripts…" until the timeout;
# a runner stall, wasm-bindgen PR #5338): such a run, and only such a run (no test
# started), is retried once, saying so. Any test that ran and failed is a failure.
wasm_test_target() {
    local f=$1 out rc attempt
    shift
    out=$(mktemp)
    for attempt in 1 2; do
        echo "${WASM_TEST_PREFIX[*]} wasm-pack test --headless $* -- $f"
        with_timeout 1200 "${WASM_TEST_PREFIX[@]}" wasm-pack test --headless "$@" -- "$f" 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
        if [ "$rc" -eq 0 ] || [ "$attempt" -eq 2 ] || ! grep -q "Failed to detect test as having been run" "$out" ||
            grep -qE "^running [0-9]+ tests?" "$out"; then
            break
        fi
        echo "wasm_test: $f: the runner never started the tests (stalled while loading); retrying once"
    done
    rm -f "$out"
    return "$rc"
}

suite_wasm_test() {
    wasm_test_targets --chrome --chromedriver "$CHROMEDRIVER"
}

# The same wasm tests in headless Firefox ESR (Debian's firefox-esr, geckodriver from crates.io).
suite_wasm_test_firefox() {
    if [ ! -x "$GECKODRIVER" ] || ! command -v firefox-esr >/dev/null 2>&1; then
        if [ "$HUBWIRE_REQUIRE_PEERS" = 1 ]; then
            echo "geckodriver ($GECKODRIVER) or firefox-esr is missing: run scripts/setup.sh"
            return 1
        fi
        skip "geckodriver or firefox-esr is missing (scripts/setup.sh installs both)"
        return 0
    fi
    wasm_test_targets --firefox --geckodriver "$GECKODRIVER"
}

# The same wasm tests in WebKitGTK: wasm-bindgen-test-runner's Safari mode drives Debian's
# WebKitWebDriver, which starts WebKitGTK's MiniBrowser. The runner sends no capabilities
# to a Safari driver (so MiniBrowser cannot be told --headless): it gets an Xvfb display.
suite_wasm_test_webkit() {
    if [ ! -x "$WEBKITDRIVER" ] || ! command -v xvfb-run >/dev/null 2>&1; then
        if [ "$HUBWIRE_REQUIRE_PEERS" = 1 ]; then
            echo "$WEBKITDRIVER (webkit2gtk-driver) or xvfb-run (xvfb) is missing: run scripts/setup.sh"
            return 1
        fi
        skip "webkit2gtk-driver or xvfb is missing (scripts/setup.sh installs both)"
        return 0
    fi
    local WASM_TEST_PREFIX=(xvfb-run -a) # seen by wasm_test_targets (bash scoping)
    wasm_test_targets --safari --safaridriver "$WEBKITDRIVER"
}

suite_sdk_peer() {
    need_emulator || return 1
    node_tests tests/sdk-peer
}

suite_e2e() {
    need_emulator || return 1
    node_tests tests/e2e
}

suite_runtimes() {
    need_emulator || return 1
    node_tests tests/runtimes
}

# hubwire fleet (packaging/fleet, docs/fleet.md): template engine, shards, reports and its
# WebSocket client; a 200-device fleet against the emulator with cloud operations mid-run;
# `npx hubwire fleet` from the packed package (~1 min, plus the package build when stale).
suite_fleet() {
    need_emulator || return 1
    if [ ! -f pkg/hubwire_bg.wasm ]; then
        with_timeout 1200 "$(hubwire_node)" packaging/web.mjs || return 1
    fi
    node_tests tests/fleet
}

# tests/reliability (docs/reliability.md): the short soak (kill -9 restarts of its own
# emulators), hostile servers, the connect throttle; Node 22 and headless Chromium.
suite_reliability() {
    if [ ! -f pkg/hubwire.js ]; then
        echo "pkg/ is missing: run the wasm_build suite first"
        return 1
    fi
    with_timeout 1200 cargo build -p hubwire-emulator || return 1
    node_tests tests/reliability
}

# The benchmarks with tiny counts (its own debug emulator and pkg/): checks each
# measurement still produces a number, never a speed. Full run: ./scripts/bench.sh.
suite_bench() {
    HUBWIRE_SKIP_SETUP=1 with_timeout 900 ./scripts/bench.sh --smoke 5>&-
}

# ---------------------------------------------------------------- runner

TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_IGNORED=0
SUMMARY=()

# count_log LOG: prints "passed failed ignored" parsed from a suite's log.
count_log() {
    awk '
        /test result: / {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/) p += $(i - 1)
                if ($(i) ~ /^failed;?$/) f += $(i - 1)
                if ($(i) ~ /^ignored;?$/) g += $(i - 1)
            }
            seen = 1; next
        }
        /^(# |ℹ )pass [0-9]+$/ { p += $NF; seen = 1; next }
        /^(# |ℹ )fail [0-9]+$/ { f += $NF; seen = 1; next }
        /^(# |ℹ )cancelled [0-9]+$/ { f += $NF; next }
        /^(# |ℹ )(skipped|todo) [0-9]+$/ { g += $NF; next }
        /^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed/ {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed,?$/) p += $(i - 1)
                if ($(i) ~ /^failed,?$/) f += $(i - 1)
            }
            seen = 1; next
        }
        END { if (seen) print p + 0, f + 0, g + 0; else print "none" }
    ' "$1"
}

run_suite() {
    local name=$1 log="$LOG_DIR/$1.log" rc start secs counts p f g status
    printf '\n==================== %s ====================\n' "$name"
    start=$SECONDS
    SUITE_SKIPPED=""
    # fd 5 feeds tee; background processes a suite starts must not inherit it (5>&-).
    exec 5> >(tee "$log")
    local tee_pid=$!
    "suite_$name" >&5 2>&1
    rc=$?
    exec 5>&-
    wait "$tee_pid" 2>/dev/null # let tee finish writing the log
    secs=$((SECONDS - start))
    if [ -n "$SUITE_SKIPPED" ]; then
        SUMMARY+=("$(printf '%-17s %-7s %5ss  %s' "$name" SKIPPED "$secs" "$SUITE_SKIPPED")")
        return 0
    fi
    counts=$(count_log "$log")
    if [ "$counts" = none ]; then
        if [ $rc -eq 0 ]; then p=1 f=0; else p=0 f=1; fi
        g=0
    else
        read -r p f g <<<"$counts"
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    fi
    if [ $rc -eq 0 ] && [ "$f" -eq 0 ]; then status=ok; else status=FAILED; fi
    TOTAL_PASSED=$((TOTAL_PASSED + p))
    TOTAL_FAILED=$((TOTAL_FAILED + f))
    TOTAL_IGNORED=$((TOTAL_IGNORED + g))
    SUMMARY+=("$(printf '%-17s %-7s %5ss  %s passed, %s failed, %s ignored (exit %s)' \
        "$name" "$status" "$secs" "$p" "$f" "$g" "$rc")")
}

main() {
    local selected=() s
    if [ "${1:-}" = "--list" ]; then
        printf '%s\n' "${SUITES[@]}"
        return 0
    fi
    if [ $# -gt 0 ]; then
        for s in "$@"; do
            if ! declare -F "suite_$s" >/dev/null; then
                echo "unknown suite '$s'; suites: ${SUITES[*]}" >&2
                return 2
            fi
        done
        selected=("$@")
    else
        selected=("${SUITES[@]}")
    fi
    local t0=$SECONDS
    for s in "${selected[@]}"; do run_suite "$s"; done
    stop_emulator
    printf '\n==================== summary (%ss, logs in %s) ====================\n' \
        "$((SECONDS - t0))" "$LOG_DIR"
    printf '%s\n' "${SUMMARY[@]}"
    echo "ignored/skipped tests: $TOTAL_IGNORED"
    echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
    [ "$TOTAL_FAILED" -eq 0 ]
}

main "$@"
