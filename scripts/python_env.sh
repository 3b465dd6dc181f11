# shellcheck shell=bash
# Sourced by test.sh: activates build/venv (created with --system-site-packages, so packages
# already installed system-wide, such as torch on the GPU machine, are used as they are) and
# installs what the Python package and its tests need, and only what is missing.

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
  echo "python: installing python3 (Debian packages)" >&2
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends python3 python3-venv python3-dev
fi

venv="$repo_root/build/venv"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv --system-site-packages "$venv"
fi
# shellcheck source=/dev/null
source "$venv/bin/activate"

# pip_ensure REQUIRED|OPTIONAL MODULE[=PIP_NAME]...: installs the missing ones. An optional one
# that cannot be installed (no network on the GPU machine) only skips the tests that need it.
pip_ensure() {
  local kind=$1
  shift
  local wanted=()
  for spec in "$@"; do
    local module=${spec%%=*} package=${spec#*=}
    python -c "import $module" 2>/dev/null || wanted+=("$package")
  done
  ((${#wanted[@]} == 0)) && return 0
  echo "python: installing ${wanted[*]}" >&2
  if ! python -m pip install --quiet "${wanted[@]}" && [[ "$kind" == REQUIRED ]]; then
    echo "python: could not install ${wanted[*]}" >&2
    return 1
  fi
  return 0
}

pip_ensure REQUIRED numpy pytest torch nanobind scikit_build_core=scikit-build-core
pip_ensure OPTIONAL transformers matplotlib
