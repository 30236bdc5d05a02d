#!/usr/bin/env bash
# perceptd setup: system packages, Rust check, the Python venv with ONNX Runtime, the
# ONNX Runtime library, the release build and the benchmark model; then the demo or the tests.
#
#   setup.sh install-deps   the shared part only
#   setup.sh demo           install-deps, then run pipelines/examples/fastestdet-drive.yaml
#   setup.sh test           install-deps, then cargo fmt --check, clippy -D warnings, cargo test
#
# Run it as root or through sudo (it calls sudo itself, only where needed, when run as a user).
# Works from any folder; a second run skips whatever is already in place.
set -euo pipefail

now() { local t="${EPOCHREALTIME:-$(date +%s)}"; printf '%s' "${t/,/.}"; }
START="$(now)"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PREFIX=/opt/perceptd
VENV="$PREFIX/venv"
ORT_VERSION=1.31.1
ORT_LIB_NAME="libonnxruntime.so.$ORT_VERSION"
ORT_LIB="$PREFIX/lib/libonnxruntime.so"        # DEFAULT_ORT_LIBRARY in src/config/spec.rs
BENCH_MODEL="$PREFIX/models/yolov8n-bench.onnx" # default of pipelines/examples/yolov8n-drive.yaml
RUST_MIN=1.95
APT_PACKAGES=(
  pkg-config clang libclang-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-tools libgstrtspserver-1.0-dev
  libopencv-dev python3-venv curl
)
PY_PACKAGES=("onnxruntime==$ORT_VERSION" numpy onnx pillow)
# The files the demo pipeline needs from the shared assets folder (ASSETS.md describes them all).
ASSET_FILES=(FastestDet.onnx coco.names solidWhiteRight.mp4 twinlitenet_bdd100k_360x640.onnx)

say() { printf '==> %s\n' "$*"; }
die() {
  local code=$1
  shift
  printf 'setup.sh: error: %s\n' "$*" >&2
  exit "$code"
}
elapsed() { awk -v a="$START" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
  cat <<EOF
usage: bash deploy/setup.sh COMMAND

  install-deps  apt packages, Rust check, $VENV (onnxruntime==$ORT_VERSION numpy onnx pillow),
                $ORT_LIB, cargo build --release --locked, $BENCH_MODEL
  demo          install-deps, then run pipelines/examples/fastestdet-drive.yaml
                (needs PERCEPTD_ASSETS; outputs go to PERCEPTD_OUT, default $REPO/out)
  test          install-deps, then cargo fmt --check, cargo clippy --release --all-targets -- -D warnings,
                cargo test --release --locked (needs PERCEPTD_ASSETS)

Example: sudo PERCEPTD_ASSETS=/path/to/assets bash deploy/setup.sh demo
EOF
}

# --- privileges -------------------------------------------------------------------------------

# Root-only steps (apt, /opt/perceptd) go through priv: directly as root, else through sudo.
if [[ $EUID -eq 0 ]]; then
  SUDO=()
else
  SUDO=(sudo)
fi
priv() {
  if [[ ${#SUDO[@]} -gt 0 ]] && ! command -v sudo >/dev/null; then
    die 1 "this step needs root ($*); run the script as root or install sudo"
  fi
  "${SUDO[@]}" "$@"
}

# Cargo and the demo run as the owner of the checkout when a user ran this through sudo, so that
# target/ and out/ stay theirs and their rustup toolchain is used (sudo drops ~/.cargo/bin from
# PATH). Otherwise they run as whoever runs the script.
BUILD_USER=""
BUILD_HOME="$HOME"
if [[ $EUID -eq 0 && -n "${SUDO_USER:-}" && "${SUDO_USER}" != root ]] &&
  [[ "$(stat -c %U "$REPO")" == "$SUDO_USER" ]]; then
  BUILD_USER="$SUDO_USER"
  BUILD_HOME="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
fi
if [[ -d "$BUILD_HOME/.cargo/bin" ]]; then
  export PATH="$BUILD_HOME/.cargo/bin:$PATH"
fi
as_builder() {
  if [[ -n "$BUILD_USER" ]]; then
    runuser -u "$BUILD_USER" -- "$@"
  else
    "$@"
  fi
}

# --- assets -----------------------------------------------------------------------------------

# PERCEPTD_ASSETS relative to the caller's folder, made absolute before anything changes folder.
if [[ -n "${PERCEPTD_ASSETS:-}" && -d "$PERCEPTD_ASSETS" ]]; then
  PERCEPTD_ASSETS="$(cd "$PERCEPTD_ASSETS" && pwd -P)"
  export PERCEPTD_ASSETS
fi

require_assets() {
  local cmd=$1
  local guess
  guess="$(cd "$REPO/.." && pwd -P)/shared/assets"
  if [[ -z "${PERCEPTD_ASSETS:-}" ]]; then
    if [[ -f "$guess/FastestDet.onnx" ]]; then
      die 2 "PERCEPTD_ASSETS is not set.
  The real test assets seem to be in $guess,
  but they are used only when you name them. Run:
    sudo PERCEPTD_ASSETS=$guess bash deploy/setup.sh $cmd
  or, as root:
    export PERCEPTD_ASSETS=$guess
    bash deploy/setup.sh $cmd"
    fi
    die 2 "PERCEPTD_ASSETS is not set.
  It names the folder of real test assets (ASSETS.md in that folder describes them); '$cmd' needs:
    FastestDet.onnx      COCO-pretrained FastestDet detector (dog-qiuqiu/FastestDet, BSD-3-Clause)
    coco.names           its 80 class names, one a line
    solidWhiteRight.mp4  dash-camera clip, H.264 960x540 (udacity/CarND-LaneLines-P1, MIT)
  In a checkout of the project the folder is ../shared/assets next to the repository. Then run:
    sudo PERCEPTD_ASSETS=/path/to/assets bash deploy/setup.sh $cmd"
  fi
  if [[ ! -d "$PERCEPTD_ASSETS" ]]; then
    die 2 "PERCEPTD_ASSETS=$PERCEPTD_ASSETS is not a folder; point it at the shared assets folder (the one with ASSETS.md)"
  fi
  local missing=() f
  for f in "${ASSET_FILES[@]}"; do
    [[ -f "$PERCEPTD_ASSETS/$f" ]] || missing+=("$f")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    die 2 "PERCEPTD_ASSETS=$PERCEPTD_ASSETS lacks ${missing[*]}; point it at the shared assets folder (see its ASSETS.md)"
  fi
}

# --- install-deps -----------------------------------------------------------------------------

apt_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != ii* ]]; then
      missing+=("$p")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "apt: all ${#APT_PACKAGES[@]} packages installed"
    return
  fi
  say "apt: installing ${missing[*]}"
  priv env DEBIAN_FRONTEND=noninteractive apt-get update -q
  priv env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

rust_toolchain() {
  local help="install Rust $RUST_MIN or newer with rustup, as the user who builds:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain stable
    . \"\$HOME/.cargo/env\"
  then run this script again."
  if ! as_builder sh -c 'command -v cargo && command -v rustc' >/dev/null; then
    # A fresh machine: install the toolchain with rustup (it needs static.rust-lang.org).
    say "rust: cargo not found${BUILD_USER:+ for user $BUILD_USER}; installing Rust $RUST_MIN with rustup"
    if ! as_builder sh -c "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain $RUST_MIN --component rustfmt,clippy" ||
      ! as_builder sh -c 'command -v cargo' >/dev/null && [[ ! -x "$BUILD_HOME/.cargo/bin/cargo" ]]; then
      die 1 "cargo not found and rustup could not install it (no access to static.rust-lang.org?); $help"
    fi
    export PATH="$BUILD_HOME/.cargo/bin:$PATH"
  fi
  local v
  v="$(as_builder rustc --version | awk '{print $2}')"
  if ! awk -v v="$v" -v min="$RUST_MIN" 'BEGIN {
      split(v, a, /[.-]/); split(min, b, ".");
      exit !((a[1] > b[1]) || (a[1] == b[1] && a[2] + 0 >= b[2] + 0)) }'; then
    die 1 "rustc $v is too old; perceptd needs Rust $RUST_MIN or newer: rustup update stable (or $help)"
  fi
  say "rust: rustc $v"
}

python_venv() {
  if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "venv: creating $VENV"
    priv mkdir -p "$PREFIX"
    priv python3 -m venv --clear "$VENV"
  fi
  if "$VENV/bin/python" - "$ORT_VERSION" <<'EOF'; then
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    ok = version("onnxruntime") == sys.argv[1]
    for p in ("numpy", "onnx", "pillow"):
        version(p)
except PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
EOF
    say "venv: onnxruntime==$ORT_VERSION numpy onnx pillow present"
    return
  fi
  say "venv: pip install ${PY_PACKAGES[*]}"
  priv "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q "${PY_PACKAGES[@]}"
}

ort_library() {
  local src="" f
  for f in "$VENV"/lib/python3*/site-packages/onnxruntime/capi/"$ORT_LIB_NAME"; do
    [[ -f "$f" ]] && src="$f" && break
  done
  [[ -n "$src" ]] || die 1 "$ORT_LIB_NAME not found in $VENV; reinstall the wheel: $VENV/bin/python -m pip install --force-reinstall onnxruntime==$ORT_VERSION"
  local dst="$PREFIX/lib/$ORT_LIB_NAME"
  if ! cmp -s "$src" "$dst"; then
    say "onnxruntime: installing $dst"
    priv install -D -m 0755 "$src" "$dst"
  fi
  if [[ "$(readlink "$ORT_LIB" 2>/dev/null)" != "$ORT_LIB_NAME" ]]; then
    priv ln -sfn "$ORT_LIB_NAME" "$ORT_LIB"
  fi
  say "onnxruntime: $ORT_LIB -> $ORT_LIB_NAME"
}

cargo_build() {
  say "cargo build --release --locked"
  (cd "$REPO" && as_builder cargo build --release --locked)
}

bench_model() {
  if [[ -f "$BENCH_MODEL" ]]; then
    say "bench model: $BENCH_MODEL present"
    return
  fi
  say "bench model: writing $BENCH_MODEL"
  local tmp="${BENCH_MODEL%.onnx}.partial.onnx"
  priv mkdir -p "$(dirname "$BENCH_MODEL")"
  priv "$VENV/bin/python" "$REPO/tests/fixtures/make_models.py" bench "$tmp"
  priv mv -f "$tmp" "$BENCH_MODEL"
}

install_deps() {
  apt_packages
  rust_toolchain
  python_venv
  ort_library
  cargo_build
  bench_model
  say "install-deps done in $(elapsed) s"
}

# --- demo and test ----------------------------------------------------------------------------

demo() {
  require_assets demo
  install_deps
  export PERCEPTD_OUT="${PERCEPTD_OUT:-$REPO/out}"
  local yaml="$REPO/pipelines/examples/fastestdet-drive.yaml"
  say "perceptd run $yaml (outputs in $PERCEPTD_OUT)"
  (cd "$REPO" && as_builder target/release/perceptd run "$yaml")
  cat <<EOF

Demo done in $(elapsed) s.
  annotated video: $PERCEPTD_OUT/fastestdet-drive.mp4
  detections:      $PERCEPTD_OUT/fastestdet-drive.jsonl (one JSON object per frame)
  metrics:         served on http://127.0.0.1:9464/metrics while it ran
                   (keep them up afterwards with: perceptd run --linger 30 ...)
EOF
}

test_summary() {
  local rc=$?
  if [[ $rc -eq 0 ]]; then
    say "test: passed, wall time $(elapsed) s"
  else
    say "test: FAILED (exit $rc), wall time $(elapsed) s"
  fi
}

run_tests() {
  require_assets test
  install_deps
  export PERCEPTD_TEST_PYTHON="$VENV/bin/python"
  export ORT_DYLIB_PATH="$ORT_LIB"
  trap test_summary EXIT
  cd "$REPO"
  if ! as_builder cargo fmt --version >/dev/null 2>&1 || ! as_builder cargo clippy --version >/dev/null 2>&1; then
    die 1 "the tests need rustfmt and clippy: rustup component add rustfmt clippy"
  fi
  say "cargo fmt --check"
  as_builder cargo fmt --check
  say "cargo clippy --release --all-targets -- -D warnings"
  as_builder cargo clippy --release --all-targets -- -D warnings
  say "cargo test --release --locked"
  as_builder cargo test --release --locked
}

case "${1:-}" in
  install-deps) install_deps ;;
  demo) demo ;;
  test) run_tests ;;
  -h | --help | help) usage ;;
  "")
    usage >&2
    exit 2
    ;;
  *)
    printf "setup.sh: unknown command '%s'\n\n" "$1" >&2
    usage >&2
    exit 2
    ;;
esac
