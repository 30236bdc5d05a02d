#!/usr/bin/env bash
# perceptd install: puts a built perceptd on this machine as the systemd service perceptd.service.
#
#   sudo bash deploy/install.sh [--dry-run] [--gpu] [--onnxruntime FILE] [BINARY]
#   sudo bash deploy/install.sh --uninstall [--dry-run]
#
# BINARY defaults to target/release/perceptd. The paths are fixed (the unit names them):
#   /usr/local/bin/perceptd                      the binary (replaced when it differs)
#   /opt/perceptd/lib/libonnxruntime.so          ONNX Runtime, only when missing: --onnxruntime FILE,
#                                                else taken from the onnxruntime==1.31.1 wheel (pip)
#   /etc/systemd/system/perceptd.service         the unit (ours: replaced; local changes go in drop-ins)
#   /etc/systemd/system/perceptd.service.d/gpu.conf   with --gpu: the NVIDIA devices
#   /etc/perceptd/perceptd.yaml                  the daemon file, only when absent (never overwritten)
#   /etc/perceptd/credentials/                   camera passwords, mode 0700, root only
# and the system user perceptd. With systemd running, the service is enabled and started, or
# restarted when the binary or unit changed. Safe to re-run. --dry-run prints each change instead.
# DESTDIR=/some/dir stages the files under that folder only (no user, apt or systemctl).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
D="${DESTDIR:-}"
BIN_DST="$D/usr/local/bin/perceptd"
UNIT_DST="$D/etc/systemd/system/perceptd.service"
DROPIN_DST="$D/etc/systemd/system/perceptd.service.d/gpu.conf"
WANTS_LINK="$D/etc/systemd/system/multi-user.target.wants/perceptd.service"
CONF_DIR="$D/etc/perceptd"
CRED_DIR="$CONF_DIR/credentials"
ORT_VERSION=1.31.1
ORT_LIB_NAME="libonnxruntime.so.$ORT_VERSION"
ORT_LIB="$D/opt/perceptd/lib/libonnxruntime.so" # DEFAULT_ORT_LIBRARY in src/config/spec.rs
# Runtime libraries and GStreamer plugins (Debian 12 names; OpenCV's is chosen below).
RUNTIME_PACKAGES=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav libgstrtspserver-1.0-0)

DRY_RUN=0 UNINSTALL=0 GPU=0 CHANGED=0
ORT_SRC="" BIN_SRC=""

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}
# Every change goes through run: printed, and skipped under --dry-run.
run() {
  printf '  + %s\n' "$*"
  [[ $DRY_RUN == 1 ]] || "$@"
}
usage() { sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
systemd_running() { [[ -z $D && -d /run/systemd/system ]]; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --gpu) GPU=1 ;;
    --onnxruntime)
      [[ $# -ge 2 ]] || die "--onnxruntime needs a file"
      ORT_SRC="$2"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      [[ -z $BIN_SRC ]] || die "one BINARY only (see --help)"
      BIN_SRC="$1"
      ;;
  esac
  shift
done
BIN_SRC="${BIN_SRC:-$REPO/target/release/perceptd}"
if [[ $EUID -ne 0 && $DRY_RUN == 0 && -z $D ]]; then
  die "run it as root (sudo bash deploy/install.sh ...), or with --dry-run to see the changes"
fi
[[ $DRY_RUN == 1 ]] && say "dry run: nothing is changed"

# put SRC DST MODE: install SRC as DST unless DST already has the same bytes.
put() {
  if cmp -s "$1" "$2"; then
    say "$2 unchanged"
  else
    run install -D -m "$3" "$1" "$2"
    CHANGED=1
  fi
}

# --- uninstall --------------------------------------------------------------------------------

if [[ $UNINSTALL == 1 ]]; then
  if systemd_running; then
    # disable --now stops it too; a unit already gone is not an error.
    run systemctl disable --now perceptd.service || true
  elif [[ -L $WANTS_LINK ]]; then
    run rm -f "$WANTS_LINK"
  fi
  for f in "$UNIT_DST" "$DROPIN_DST" "$BIN_DST"; do
    [[ -e $f ]] && run rm -f "$f"
  done
  [[ -d ${DROPIN_DST%/*} ]] && run rmdir --ignore-fail-on-non-empty "${DROPIN_DST%/*}"
  systemd_running && run systemctl daemon-reload
  cat <<EOF
perceptd is uninstalled. Kept, remove them by hand if they should go:
  $CONF_DIR (pipelines, credentials)   /var/lib/perceptd (outputs)   /var/cache/perceptd
  ${ORT_LIB%/*} (ONNX Runtime)   the user perceptd (userdel perceptd)
EOF
  exit 0
fi

# --- install ----------------------------------------------------------------------------------

if [[ ! -x $BIN_SRC ]]; then
  [[ $DRY_RUN == 1 ]] || die "$BIN_SRC is not an executable; build it first: cargo build --release --locked"
  say "warning: $BIN_SRC is missing (build it: cargo build --release --locked)"
fi

# Runtime packages, on apt systems only (Ubuntu 24.04 renamed OpenCV's to ...t64).
if [[ -z $D ]] && command -v apt-get >/dev/null; then
  opencv=libopencv-imgproc406
  apt-cache show libopencv-imgproc406t64 >/dev/null 2>&1 && opencv=libopencv-imgproc406t64
  missing=()
  for p in "${RUNTIME_PACKAGES[@]}" "$opencv"; do
    [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" == ii* ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    run env DEBIAN_FRONTEND=noninteractive apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    say "apt: runtime packages present"
  fi
fi

[[ -x $BIN_SRC ]] && put "$BIN_SRC" "$BIN_DST" 0755
if [[ -x $BIN_SRC ]] && ldd "$BIN_SRC" | grep -q 'not found'; then
  [[ $DRY_RUN == 1 ]] || die "$BIN_SRC lacks shared libraries: $(ldd "$BIN_SRC" | awk '/not found/ {print $1}' | xargs)"
fi

# ONNX Runtime: an existing library is left alone (setup.sh may have put it there).
if [[ -e $ORT_LIB ]]; then
  say "$ORT_LIB present"
else
  if [[ -z $ORT_SRC ]]; then
    # The CPU library from the onnxruntime wheel, in a throwaway venv (pip needs the network).
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    run python3 -m venv "$tmp/venv" || die "python3 -m venv failed: apt-get install python3-venv, or pass --onnxruntime FILE"
    run "$tmp/venv/bin/pip" install -q --disable-pip-version-check --no-deps "onnxruntime==$ORT_VERSION"
    ORT_SRC="$(compgen -G "$tmp/venv/lib/python3*/site-packages/onnxruntime/capi/$ORT_LIB_NAME" || echo "$tmp/$ORT_LIB_NAME")"
  fi
  [[ -f $ORT_SRC || $DRY_RUN == 1 ]] || die "$ORT_SRC is not a file"
  run install -D -m 0755 "$ORT_SRC" "${ORT_LIB%/*}/$ORT_LIB_NAME"
  run ln -sfn "$ORT_LIB_NAME" "$ORT_LIB"
fi

# The service's user: outputs in /var/lib/perceptd belong to it, readable by group perceptd.
if [[ -z $D ]] && ! getent passwd perceptd >/dev/null; then
  run useradd --system --user-group --home-dir /var/lib/perceptd --no-create-home \
    --shell /usr/sbin/nologin --comment "perceptd video perception" perceptd
fi

# Configuration: created when absent, never overwritten.
[[ -d $CONF_DIR ]] || run install -d -m 0755 "$CONF_DIR"
if [[ -e $CONF_DIR/perceptd.yaml ]]; then
  say "$CONF_DIR/perceptd.yaml kept"
else
  run install -m 0644 "$REPO/deploy/config/perceptd.yaml" "$CONF_DIR/perceptd.yaml"
fi
# systemd reads the credentials as root and hands the service a private copy.
if [[ "$(stat -c %a "$CRED_DIR" 2>/dev/null)" != 700 ]]; then
  run install -d -m 0700 "$CRED_DIR"
fi

put "$REPO/deploy/systemd/perceptd.service" "$UNIT_DST" 0644
if [[ $GPU == 1 ]]; then
  put "$REPO/deploy/systemd/perceptd-gpu.conf" "$DROPIN_DST" 0644
fi

if systemd_running; then
  run systemctl daemon-reload
  run systemctl enable perceptd.service
  if systemctl is-active --quiet perceptd.service; then
    if [[ $CHANGED == 1 ]]; then
      run systemctl restart perceptd.service || die "perceptd did not restart: journalctl -u perceptd -n 50"
    else
      say "perceptd.service running, nothing changed"
    fi
  else
    run systemctl start perceptd.service || die "perceptd did not start: journalctl -u perceptd -n 50"
  fi
  how="systemctl reload perceptd"
else
  say "systemd is not running here: the unit is installed, not started"
  how="systemctl enable --now perceptd   (once systemd runs)"
fi

cat <<EOF

Next steps:
  1. Pipelines: each /etc/perceptd/*.yaml (besides perceptd.yaml) is one; examples in
     $REPO/pipelines/examples. Write outputs under /var/lib/perceptd, e.g.
       sinks: [{type: jsonl, path: /var/lib/perceptd/cam1.jsonl}]
     and check a file first: perceptd check /etc/perceptd/cam1.yaml
  2. A camera password (RTSP source: password_file: \${CREDENTIALS_DIRECTORY}/camera-password):
       sudo sh -c 'umask 077; cat > /etc/perceptd/credentials/camera-password'
  3. Apply: $how
     Logs: journalctl -u perceptd -f    Metrics: curl -s http://127.0.0.1:9464/metrics
EOF
[[ $GPU == 1 ]] || echo "  4. NVIDIA GPU: re-run with --gpu (adds perceptd.service.d/gpu.conf)."
