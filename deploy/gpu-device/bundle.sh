#!/usr/bin/env bash
# Builds the carried parts for the GPU check of perceptd (docs/gpu.md) on a device machine
# that has no GStreamer, OpenCV, Rust or network. Run here (x86-64, Debian 12), not there.
#
#   bash deploy/gpu-device/bundle.sh            # -> .gpu/c1 .. .gpu/cN, each <= PART_MB (default 57) MB
#
# Inputs (override with env):
#   BIN   release perceptd            (/work/gpu-stage/perceptd; stripped into the bundle)
#   MODEL bench model                 (/work/gpu-stage/yolov8n-bench.onnx)
#   WHEEL onnxruntime-gpu 1.31.1 wheel (/tmp/ortgpu/onnxruntime_gpu-1.31.1-cp312-...whl)
#   CUDA_XZ an xz -9e of libonnxruntime_providers_cuda.so made before (skips 3 min of xz)
#
# What goes where:
#   base.tar.xz  bin/perceptd, lib/ (every non-glibc library ldd lists for perceptd, the four
#                GStreamer plugins and gst-plugin-scanner), cxx/ (libstdc++ / libgcc_s, used
#                there only if the image's are older), glibc/ (used only if the image's glibc
#                is older than 2.36), gst/ (coreelements, videotestsrc, videoconvertscale, app,
#                gst-plugin-scanner), ort/ (libonnxruntime.so.1.31.1, providers_shared,
#                providers_tensorrt), model/, SHA256SUMS
#   cuda.xz.NN   libonnxruntime_providers_cuda.so (284 MB), xz -9e, split
# The parts are packed into folders c1..cN of at most PART_MB each (the base first), one
# folder per device call: each call copies its folder to /root/stage there (kept while the
# machine stays warm); the last one runs deploy/gpu-device/device.sh.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
# The parts go to .gpu/ in the repository root (ignored by git), where the device calls carry them.
HERE="$REPO/.gpu"
mkdir -p "$HERE"
BIN="${BIN:-$REPO/target/release/perceptd}"
MODEL="${MODEL:-/opt/perceptd/models/yolov8n-bench.onnx}"
# pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64
#   -d /tmp/ortgpu onnxruntime-gpu==1.31.1
WHEEL="${WHEEL:-/tmp/ortgpu/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl}"
[[ -f "$WHEEL" ]] || { echo "bundle.sh: WHEEL=$WHEEL not found (see the pip download line above)" >&2; exit 2; }
PART_MB="${PART_MB:-57}"
W="${WORK:-/tmp/pd-bundle}"
N="nice -n 19"

rm -rf "$W" && mkdir -p "$W"/{b/bin,b/lib,b/cxx,b/glibc,b/gst,b/ort,b/model,ortx,parts}
B="$W/b"

# ONNX Runtime GPU libraries from the wheel.
$N unzip -q -o "$WHEEL" 'onnxruntime/capi/libonnxruntime*' -d "$W/ortx"
X="$W/ortx/onnxruntime/capi"
cp "$X/libonnxruntime.so.1.31.1" "$X/libonnxruntime_providers_shared.so" \
   "$X/libonnxruntime_providers_tensorrt.so" "$B/ort/"

cp "$BIN" "$B/bin/perceptd" && strip "$B/bin/perceptd"
cp "$MODEL" "$B/model/"
G=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
for p in coreelements videotestsrc videoconvertscale app; do cp "$G/libgst$p.so" "$B/gst/"; done
cp /usr/lib/x86_64-linux-gnu/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner "$B/gst/"

# Every library the binary, the plugins and the scanner need, minus glibc (-> glibc/, a
# fallback) and the C++ runtime (-> cxx/, a fallback).
{ ldd "$B/bin/perceptd"; for f in "$B"/gst/*; do ldd "$f"; done; } | awk '/=>/ {print $3}' | sort -u |
while read -r l; do
  case "$(basename "$l")" in
    libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1) cp -L "$l" "$B/glibc/" ;;
    libstdc++.so.6|libgcc_s.so.1) cp -L "$l" "$B/cxx/" ;;
    *) cp -L "$l" "$B/lib/" ;;
  esac
done
cp -L /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/{libc.so.6,libm.so.6,libdl.so.2,libpthread.so.0,librt.so.1} "$B/glibc/"
# Nothing left outside the bundle but glibc and the C++ runtime:
left=$(for f in "$B/bin/perceptd" "$B"/gst/*; do LD_LIBRARY_PATH="$B/lib" ldd "$f" | awk '/=>/ {print $3}'; done |
  sort -u | grep -v "^$B/" | grep -Ev '/(libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1)$' || true)
[[ -z "$left" ]] || { echo "libraries outside the bundle: $left" >&2; exit 1; }

cp "$X/libonnxruntime_providers_cuda.so" "$W/cuda.so"
(cd "$B" && sha256sum bin/perceptd ort/* model/* > SHA256SUMS &&
  (cd "$W" && sha256sum cuda.so | sed 's# cuda.so# ort/libonnxruntime_providers_cuda.so#') >> SHA256SUMS)

$N tar -C "$B" -cf - . | $N xz -9e -T2 > "$W/parts/base.tar.xz"
if [[ -f "${CUDA_XZ:-}" ]]; then cp "$CUDA_XZ" "$W/cuda.so.xz"; else $N xz -9e -T2 -k -c "$W/cuda.so" > "$W/cuda.so.xz"; fi

# Pack: c1 = base + the first piece of the CUDA provider that fits, then full pieces.
lim=$((PART_MB * 1000 * 1000))
base=$(stat -c %s "$W/parts/base.tar.xz")
first=$((lim - base))
rm -rf "$HERE"/c[0-9]* && mkdir -p "$HERE/c1"
cp "$W/parts/base.tar.xz" "$HERE/c1/"
head -c "$first" "$W/cuda.so.xz" > "$HERE/c1/cuda.xz.00"
tail -c +$((first + 1)) "$W/cuda.so.xz" | (cd "$W/parts" && split -b "$lim" -d -a 2 --numeric-suffixes=1 - cuda.xz.)
i=2
for p in "$W"/parts/cuda.xz.*; do mkdir -p "$HERE/c$i" && mv "$p" "$HERE/c$i/"; i=$((i + 1)); done
(cd "$W" && sha256sum cuda.so.xz | sed 's# cuda.so.xz# cuda.so.xz#') > "$HERE/c1/cuda.so.xz.sha256"
du -sb "$HERE"/c*
echo "device calls: $((i - 1)) (c1 .. c$((i - 1))); the last one runs deploy/gpu-device/device.sh bench"
