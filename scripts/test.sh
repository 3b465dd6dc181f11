#!/usr/bin/env bash
# Builds the library, the program and every test with warnings as errors (the CUDA sources too
# when nvcc is found) and runs the C++ tests; then builds and installs the Python package into
# build/venv and runs its tests.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$repo_root/scripts/setup.sh"
build_dir="$repo_root/build/test"
configure_and_build "$build_dir" -DFLASHATTN_BUILD_TESTS=ON -DFLASHATTN_BUILD_CLI=ON \
  -DFLASHATTN_WARNINGS_AS_ERRORS=ON

ctest --test-dir "$build_dir" --output-on-failure -j "$jobs"

# The Python package: built by pip from the same CMake project, then its tests. pytest exits
# with 5 when it collects nothing (possible with a filter); that is not a failure.
# shellcheck source=scripts/python_env.sh
source "$repo_root/scripts/python_env.sh"
python -m pip install --quiet --no-build-isolation "$repo_root"
cd "$repo_root"
python -m pytest tests/python -q || [[ $? -eq 5 ]]
