#!/usr/bin/env bash
# GPU benchmark of perceptd: the YOLOv8n-sized bench model at 640x640 on the recorded drive, on
# CPU, CUDA and TensorRT FP16, batch 1 and 8. Prints one table (markdown) and writes it to
# $OUT/gpu-bench.md.
#
# Needs: a host with an NVIDIA GPU and driver for CUDA 13, the README's setup done
# (`deploy/setup.sh`), and pip access to PyPI for onnxruntime-gpu==1.31.1, its CUDA / cuDNN wheels
# and TensorRT. Or pre-downloaded wheels in WHEELS=folder (pip install --no-index).
#
#   PERCEPTD_ASSETS=/path/to/assets bash deploy/gpu-bench.sh
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-/tmp/perceptd-gpu}"
VENV="${GPU_VENV:-/opt/perceptd/gpu}"
MODEL="${PERCEPTD_BENCH_MODEL:-/opt/perceptd/models/yolov8n-bench.onnx}"
: "${PERCEPTD_ASSETS:?set PERCEPTD_ASSETS to the folder with solidWhiteRight.mp4}"
mkdir -p "$OUT"

if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
pip_args=(-q)
[[ -n "${WHEELS:-}" ]] && pip_args+=(--no-index --find-links "$WHEELS")
"$VENV/bin/pip" install "${pip_args[@]}" "onnxruntime-gpu[cuda,cudnn]==1.31.1" tensorrt-cu13

SITE="$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
LIB="$SITE/onnxruntime/capi/libonnxruntime.so.1.31.1"
[[ -f "$LIB" ]] || { echo "onnxruntime-gpu library not found at $LIB" >&2; exit 1; }
# Every folder of CUDA, cuDNN and TensorRT libraries the wheels brought.
mapfile -t LIBDIRS < <(find "$SITE/nvidia" "$SITE/tensorrt_libs" -maxdepth 3 -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u)

[[ -f "$MODEL" ]] || "$REPO/deploy/setup.sh" install-deps
BIN="$REPO/target/release/perceptd"
[[ -x "$BIN" ]] || (cd "$REPO" && cargo build --release --locked)

pipeline() { # provider batch -> a pipeline file
  local p="$1" b="$2" f="$OUT/bench-$1-b$2.yaml"
  local providers="[$p]"
  [[ "$p" != cpu ]] && providers="[$p, cpu]"
  {
    echo "name: gpu-bench-$p-b$b"
    echo "runtime:"
    echo "  onnxruntime: $LIB"
    echo "  metrics_addr: 'off'"
    echo "  cuda_libraries:"
    for d in "${LIBDIRS[@]}"; do echo "    - $d"; done
    echo "sources: {drive: {type: file, path: $PERCEPTD_ASSETS/solidWhiteRight.mp4}}"
    echo "models:"
    echo "  det:"
    echo "    path: $MODEL"
    echo "    format: yolov8"
    echo "    providers: $providers"
    echo "    batch_size: $b"
    [[ "$p" == tensorrt ]] && echo "    tensorrt: {fp16: true, engine_cache: $OUT/engines}"
    echo "stages: [{type: detect, model: det}]"
    echo "sinks: [{type: jsonl, path: $OUT/bench-$p-b$b.jsonl}]"
  } >"$f"
  echo "$f"
}

table="$OUT/gpu-bench.md"
{
  echo "| provider | batch | pipeline frames/s | bare Session::run frames/s | detect p50 ms/frame | provider in use |"
  echo "|---|---|---|---|---|---|"
} >"$table"
for p in cpu cuda tensorrt; do
  for b in 1 8; do
    f="$(pipeline "$p" "$b")"
    log="$OUT/bench-$p-b$b.log"
    if ! RUST_LOG=info "$BIN" bench "$f" >"$log" 2>&1; then
      echo "| $p | $b | failed: see $(basename "$log") | | | |" >>"$table"
      continue
    fi
    fps=$(sed -n 's/^pipeline: .* = \([0-9.]*\) frames\/s/\1/p' "$log")
    raw=$(sed -n 's/^raw Session::run [^:]*: [0-9]* calls of [0-9]* frames, \([0-9.]*\) frames\/s.*/\1/p' "$log")
    p50=$(awk '$1=="detect:det"{print $3; exit}' "$log")
    used=$(sed -n 's/.*session ready.*provider=\"\?\([a-z]*\)\"\?.*/\1/p' "$log" | tail -1)
    echo "| $p | $b | $fps | $raw | $p50 | $used |" >>"$table"
  done
done
cat "$table"
