#!/usr/bin/env bash
# Builds the release `flashattn` program (with the CUDA sources when nvcc is found) and runs
# `flashattn run` with the given flags, e.g.  ./scripts/run.sh --backward --causal
# Build output goes to stderr, so `./scripts/run.sh --json > result.json` keeps stdout clean.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$repo_root/scripts/setup.sh" >&2
configure_and_build "$repo_root/build/release" -DFLASHATTN_BUILD_CLI=ON \
  -DFLASHATTN_BUILD_TESTS=OFF >&2
exec "$repo_root/build/release/flashattn" run "$@"
