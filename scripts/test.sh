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

cargo test --workspace --all-features --locked
