#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, adapter tests against httpmock, the
# conformance suite, end-to-end tests in tests/, doctests. Needs no network beyond what
# cargo fetches. Installs what a fresh machine lacks before running.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install a Rust toolchain (https://rustup.rs)" >&2
  exit 1
fi

# System packages the tests use: a real redis-server and redis-cli (Redis replay guard
# tests, single node and a three-node cluster; the multi-instance test), and Chromium with
# its driver (the demo's browser test).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages) for the tests" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --workspace --all-features --locked
