#!/usr/bin/env bash
# Installs what lir's build and tests need on Debian 12, and nothing that is already there.
#
#   Debian packages: the C toolchain (cmake, gcc, make, pkg-config), Criterion (unit tests),
#                    PCRE2, utf8proc, jansson, libsodium (licence signatures), libcurl (remote backends),
#                    libmicrohttpd (lir serve), SQLite (the store), xxHash (snapshot checksums),
#   clang + compiler-rt (libFuzzer target), Node.js + npm (test oracles), git (ggml's headers
#   out of node-llama-cpp's llama.cpp source bundle, for tests/ggml),
#   chromium (the dashboard's browser tests, driven by playwright-core).
#   npm packages:    node-llama-cpp + its prebuilt linux-x64 CPU binaries (llama.cpp, our oracle),
#                    ajv (JSON Schema validator), the official openai and ollama clients,
#                    playwright-core (drives chromium) and uPlot (the dashboard's charts),
#                    pinned exactly in package.json / package-lock.json.
#
# A warm machine does no network work: each Debian package is checked with dpkg first, and
# node_modules is reinstalled only when package-lock.json changed since the last install.
# Run as root (or with sudo available) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'deps: %s\n' "$*" >&2; }

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
fi

# --- Debian packages ---------------------------------------------------------------------
# nodejs/npm are checked as commands, not packages: a NodeSource nodejs bundles npm, and
# installing Debian's npm next to it would conflict.
need=()
for p in cmake gcc make pkg-config libcriterion-dev clang libclang-rt-14-dev time git \
         libpcre2-dev libutf8proc-dev libjansson-dev libsodium-dev libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev libxxhash-dev sentencepiece chromium; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ "${#need[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${need[*]} and no apt-get here: install them by hand"; exit 1
  fi
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  log "warning: node $(node --version) is older than node-llama-cpp 3.21.1 asks for (>= 20);"
  log "         the parity tests and the llama.cpp benchmark may fail (NodeSource's nodejs 20+ works)"
fi

# --- npm packages (test oracles) ----------------------------------------------------------
stamp=node_modules/.lir-deps-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -d node_modules/node-llama-cpp ]; then
  log "installing npm packages (node-llama-cpp, prebuilt CPU binaries only)"
  # --omit=optional: skip ~650 MB of CUDA/Vulkan/ARM builds; linux-x64 is a direct dependency.
  # --ignore-scripts + SKIP_DOWNLOAD: never build or download llama.cpp at install time.
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --ignore-scripts --no-audit --no-fund \
    --loglevel=error
  printf '%s\n' "$want" > "$stamp"
fi
