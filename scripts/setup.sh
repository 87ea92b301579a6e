#!/usr/bin/env bash
# scripts/setup.sh — installs what hubwire's demo and tests need on a fresh
# Debian machine, idempotently: every step checks before it installs.
#
#   ./scripts/setup.sh            install everything (what scripts/test.sh needs)
#   source scripts/setup.sh       only define the ensure_* functions (demo.sh, test.sh)
#
# Everything comes from the package registries this project may reach:
# rustup's target, crates.io (wasm-pack, wasm-bindgen-cli, geckodriver), Debian (chromium,
# chromium-driver, firefox-esr, webkit2gtk-driver, xvfb, mosquitto) and npm (`npm ci` from committed
# lockfiles: among them binaryen's wasm-opt, esbuild, terser). Nothing downloads a prebuilt
# binary from anywhere else.

HUBWIRE_ROOT=${HUBWIRE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export HUBWIRE_ROOT
export PATH="$HOME/.cargo/bin:$PATH"

# Debian packages the tests use: browsers + drivers for wasm-pack test (Chromium,
# Firefox ESR whose driver comes from crates.io, WebKitGTK's WebKitWebDriver with
# MiniBrowser under Xvfb) and Playwright, a real MQTT broker for the peer tests.
# (No Debian binaryen: its wasm-opt 108 breaks wasm-bindgen output; wasm-opt is the npm one.)
HUBWIRE_APT_PACKAGES=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth mosquitto)
# Directories whose committed package-lock.json is installed with `npm ci`.
# The root holds shared dev tools; add a directory here when a suite brings its own.
HUBWIRE_NPM_DIRS=(. tests/sdk-peer)

setup_log() { printf '[setup] %s\n' "$*" >&2; }

# Runs a command as root (directly, or through sudo when we are not root).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# wasm-pack (`--release`, Cargo.toml's wasm-opt flags) runs the first `wasm-opt` on PATH:
# make it the npm binaryen's (root node_modules, binaryen 132), not Debian's binaryen 108,
# which breaks wasm-bindgen output. A shim in target/hubwire-path, not node_modules/.bin
# itself on PATH: that also holds node@22, which must not shadow the system node. The shim
# fails loudly (instead of falling back to Debian's) until `npm ci` has run in the root.
hubwire_wasm_opt_on_path() {
    local dir="$HUBWIRE_ROOT/target/hubwire-path" tmp
    mkdir -p "$dir" || return 0
    tmp=$(mktemp "$dir/.wasm-opt.XXXXXX") || return 0
    cat >"$tmp" <<EOF
#!/bin/sh
# Written by scripts/setup.sh: wasm-pack's wasm-opt is the npm binaryen's.
bin="$HUBWIRE_ROOT/node_modules/.bin/wasm-opt"
[ -x "\$bin" ] || { echo "wasm-opt: \$bin is missing: run npm ci in $HUBWIRE_ROOT (scripts/setup.sh)" >&2; exit 1; }
exec "\$bin" "\$@"
EOF
    chmod +x "$tmp" && mv -f "$tmp" "$dir/wasm-opt"
    case ":$PATH:" in *":$dir:"*) ;; *) export PATH="$dir:$PATH" ;; esac
}
hubwire_wasm_opt_on_path

ensure_wasm_target() {
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        return 0
    fi
    setup_log "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
}

ensure_wasm_pack() {
    if command -v wasm-pack >/dev/null 2>&1; then
        return 0
    fi
    setup_log "cargo install wasm-pack (a few minutes on 2 cores)"
    cargo install wasm-pack
}

# geckodriver (Firefox's WebDriver, for `wasm-pack test --firefox`): Debian ships none.
ensure_geckodriver() {
    if command -v geckodriver >/dev/null 2>&1; then
        return 0
    fi
    setup_log "cargo install geckodriver (a few minutes on 2 cores)"
    cargo install --locked geckodriver || cargo install geckodriver
}

# The wasm-bindgen version pinned by Cargo.lock (the CLI must match it exactly).
wasm_bindgen_locked_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
        "$HUBWIRE_ROOT/Cargo.lock"
}

ensure_wasm_bindgen_cli() {
    local want have
    want=$(wasm_bindgen_locked_version)
    if [ -z "$want" ]; then
        setup_log "Cargo.lock has no wasm-bindgen entry; run 'cargo generate-lockfile' first"
        return 1
    fi
    have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')
    if [ "$have" = "$want" ]; then
        return 0
    fi
    # Without --locked: the CLI's own lockfile pins crates that may no longer build.
    setup_log "cargo install wasm-bindgen-cli --version $want (have: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want" --force
}

# ensure_apt_packages [pkg...]: installs the missing ones (apt-get update once).
ensure_apt_packages() {
    local pkgs=("$@") missing=() p
    [ ${#pkgs[@]} -gt 0 ] || pkgs=("${HUBWIRE_APT_PACKAGES[@]}")
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ -z "${HUBWIRE_APT_UPDATED:-}" ]; then
        setup_log "apt-get update"
        as_root apt-get update -qq || return 1
        HUBWIRE_APT_UPDATED=1
    fi
    setup_log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
}

# npm ci in one directory, skipped when node_modules already matches the lockfile.
ensure_npm_dir() {
    local dir="$HUBWIRE_ROOT/$1" stamp sum
    [ -f "$dir/package.json" ] || return 0
    # A package.json without dependencies (e.g. one that only sets "type") needs no install.
    node -e 'const p = require(process.argv[1]);
        process.exit(Object.keys({ ...p.dependencies, ...p.devDependencies, ...p.optionalDependencies }).length ? 0 : 1)' \
        "$dir/package.json" || return 0
    if [ ! -f "$dir/package-lock.json" ]; then
        setup_log "$1/package.json has no committed package-lock.json: npm install (commit the lockfile!)"
        (cd "$dir" && npm install --no-audit --no-fund) || return 1
        return 0
    fi
    stamp="$dir/node_modules/.hubwire-lock.sha256"
    sum=$( (cat "$dir/package-lock.json" "$dir/package.json") | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        return 0
    fi
    setup_log "npm ci in $1"
    if ! (cd "$dir" && npm ci --no-audit --no-fund); then
        setup_log "npm ci failed in $1. If it said 'Missing: <pkg>@ from lock file', run" \
            "node scripts/lockfile-fill-platforms.mjs $1/package-lock.json and commit the lockfile"
        return 1
    fi
    echo "$sum" >"$stamp"
}

ensure_npm() {
    local d
    for d in "${HUBWIRE_NPM_DIRS[@]}"; do
        ensure_npm_dir "$d" || return 1
    done
}

# What the build (packaging/web.mjs, packaging/build.mjs) needs; the demo needs only this.
# wasm-pack's wasm-opt is the root node_modules' binaryen (see hubwire_wasm_opt_on_path) and
# the package's JS is minified by its esbuild and terser, hence the root npm ci.
ensure_build_tools() {
    ensure_wasm_target && ensure_wasm_pack && ensure_wasm_bindgen_cli && ensure_npm_dir .
}

# Everything scripts/test.sh needs.
ensure_all() {
    ensure_build_tools && ensure_apt_packages && ensure_geckodriver && ensure_npm
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    ensure_all
    setup_log "done"
fi
