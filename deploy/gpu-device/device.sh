#!/usr/bin/env bash
# Device side of the GPU check (docs/gpu.md). Runs on the lent machine, from the repo root,
# with the parts that deploy/gpu-device/bundle.sh made carried in .gpu/cN.
#
#   bash deploy/gpu-device/device.sh stage cN   copy .gpu/cN to /root/stage (kept while the machine is warm)
#   bash deploy/gpu-device/device.sh probe      GPU, driver, glibc, C++ runtime, CUDA / cuDNN / TensorRT
#                                  libraries of the image; unpack the base; `perceptd check`
#                                  on CPU (GStreamer + ONNX Runtime work there)
#   bash deploy/gpu-device/device.sh bench      reassemble the CUDA provider, then perceptd bench: CPU b1,
#                                  CUDA b1, CUDA b8 (+ TensorRT b1 if libnvinfer is there)
# Everything it finds goes to $OUT (env.txt, logs.txt, metrics.txt, gpu-bench.md).
set -uo pipefail
S="${STAGE:-/root/stage}"
P="${PD:-/root/pd}"
OUT="${OUT:-/tmp/pd-out}"
mkdir -p "$S" "$P" "$OUT"
ENVLOG="$OUT/env.txt"
say() { echo "$*" | tee -a "$ENVLOG"; }

unpack_base() {
  [[ -x "$P/bin/perceptd" ]] && return 0
  [[ -f "$S/base.tar.xz" ]] || { say "no $S/base.tar.xz: call 1 (stage c1) did not happen on this machine"; return 1; }
  if command -v xz >/dev/null; then
    tar -C "$P" -xJf "$S/base.tar.xz"
  else
    python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])" "$S/base.tar.xz" "$P"
  fi
}

# The environment perceptd runs in: our libraries first, GStreamer only from our folder.
setup_env() {
  LDP="$P/lib"
  # C++ runtime: the image's unless it lacks GLIBCXX_3.4.30 (GCC 12, what perceptd was built with).
  local cxx
  cxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
  if [[ -z "$cxx" ]] || ! grep -aq GLIBCXX_3.4.30 "$cxx"; then LDP="$LDP:$P/cxx"; say "using the carried libstdc++ (image: ${cxx:-none})"; fi
  # libcuda.so.1 comes from the driver; make sure the loader finds it.
  if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
    local d
    d=$(dirname "$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 -name 'libcuda.so.1' 2>/dev/null | head -1)" 2>/dev/null)
    [[ -n "$d" && "$d" != . ]] && LDP="$LDP:$d" && say "libcuda.so.1 not in ldconfig; using $d"
  fi
  LDP="$LDP${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  LOADER=()
  local glibc
  glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  if [[ "$(printf '%s\n2.36\n' "$glibc" | sort -V | head -1)" != 2.36 ]]; then
    say "image glibc $glibc < 2.36: running through the carried loader"
    LOADER=("$P/glibc/ld-linux-x86-64.so.2" --library-path "$P/glibc:$LDP")
  fi
  export GST_PLUGIN_SYSTEM_PATH="" GST_PLUGIN_SYSTEM_PATH_1_0="" GST_PLUGIN_PATH="$P/gst" GST_PLUGIN_PATH_1_0="$P/gst"
  export GST_PLUGIN_SCANNER="$P/gst/gst-plugin-scanner" GST_REGISTRY="$P/gst-registry.bin" GST_REGISTRY_FORK=no
  unset ORT_DYLIB_PATH
  export RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1
}
pd() { LD_LIBRARY_PATH="$LDP" "${LOADER[@]}" "$P/bin/perceptd" "$@"; }

# The folders of the image's CUDA 13 / cuDNN 9 libraries (the nvidia-* pip packages).
find_cuda_dirs() {
  SITE=$(python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null)
  CUDA_DIRS=()
  local n f
  for n in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12 libcudnn.so.9 libnvrtc.so.13 libnvJitLink.so.13; do
    f=$(find "$SITE/nvidia" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib -name "$n*" 2>/dev/null | head -1)
    if [[ -n "$f" ]]; then CUDA_DIRS+=("$(dirname "$f")"); else say "not found on the image: $n"; fi
  done
  mapfile -t CUDA_DIRS < <(printf '%s\n' "${CUDA_DIRS[@]}" | grep . | sort -u)
  # A curated folder of links to just what ONNX Runtime's CUDA provider and cuDNN use, so that
  # perceptd's preload (every lib*.so* of each folder) does not pull in nvblas, cufile, ...
  rm -rf "$P/cudalibs" && mkdir -p "$P/cudalibs"
  local d
  for d in "${CUDA_DIRS[@]}"; do
    for f in "$d"/lib{cudart,cublas,cublasLt,curand,cufft,cudnn,nvrtc,nvJitLink}*.so*; do
      [[ -e "$f" ]] && ln -sf "$f" "$P/cudalibs/"
    done
  done
  TRT_DIR=$(dirname "$(find "$SITE" /usr/lib/x86_64-linux-gnu /usr/local -name 'libnvinfer.so.10*' 2>/dev/null | head -1)" 2>/dev/null)
  [[ "$TRT_DIR" == . ]] && TRT_DIR=""
}

pipeline() { # name provider batch frames libdirs... -> prints the file
  local name=$1 prov=$2 b=$3 n=$4; shift 4
  local f="$P/bench-$name.yaml" providers="[$prov]"
  [[ "$prov" != cpu ]] && providers="[$prov, cpu]"
  {
    echo "name: gpu-bench-$name"
    echo "runtime:"
    echo "  onnxruntime: $P/ort/libonnxruntime.so.1.31.1"
    echo "  metrics_addr: 'off'"
    if (($#)); then echo "  cuda_libraries:"; for d in "$@"; do echo "    - $d"; done; fi
    echo "sources: {cam: {type: test, pattern: smpte, num_frames: $n, width: 960, height: 540, fps: 30}}"
    echo "models:"
    echo "  det:"
    echo "    path: $P/model/yolov8n-bench.onnx"
    echo "    format: yolov8"
    echo "    providers: $providers"
    echo "    batch_size: $b"
    [[ "$prov" == tensorrt ]] && echo "    tensorrt: {fp16: true, engine_cache: $P/engines}"
    echo "stages: [{type: detect, model: det}]"
    echo "sinks: [{type: jsonl, path: $P/bench-$name.jsonl}]"
  } >"$f"
  echo "$f"
}

case "${1:-}" in
stage)
  cp -v ".gpu/$2"/* "$S/" && ls -la "$S" && df -h "$S" | tail -1
  ;;
probe)
  {
    echo "== date"; date -u
    echo "== nvidia-smi"; nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
    echo "== os"; cat /etc/os-release 2>/dev/null | head -3; uname -r; getconf GNU_LIBC_VERSION
    echo "== libstdc++"; ldconfig -p | grep -E 'libstdc\+\+|libcuda\.so'
    echo "== tools"; command -v xz zstd python3
  } 2>&1 | tee -a "$ENVLOG"
  unpack_base || exit 1
  (cd "$P" && sha256sum -c --quiet <(grep -v providers_cuda SHA256SUMS)) 2>&1 | tee -a "$ENVLOG"
  setup_env; find_cuda_dirs
  {
    echo "== site-packages: $SITE"; echo "CUDA dirs: ${CUDA_DIRS[*]}"; ls "$P/cudalibs"
    echo "TensorRT: ${TRT_DIR:-none}"
    python3 -m pip list 2>/dev/null | grep -iE 'nvidia|onnxruntime|tensorrt'
  } 2>&1 | tee -a "$ENVLOG"
  f=$(pipeline probe cpu 1 5)
  pd check "$f" 2>&1 | tee -a "$ENVLOG"
  ;;
bench)
  set +e
  unpack_base || exit 1
  if [[ ! -f "$P/ort/libonnxruntime_providers_cuda.so" ]]; then
    ls "$S"/cuda.xz.* | tee -a "$ENVLOG"
    (cd "$S" && cat cuda.xz.* > cuda.so.xz && sha256sum -c cuda.so.xz.sha256) 2>&1 | tee -a "$ENVLOG"
    if command -v xz >/dev/null; then xz -dc "$S/cuda.so.xz" > "$P/ort/libonnxruntime_providers_cuda.so"
    else python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$S/cuda.so.xz" "$P/ort/libonnxruntime_providers_cuda.so"; fi
    (cd "$P" && sha256sum -c SHA256SUMS) 2>&1 | tee -a "$ENVLOG"
  fi
  setup_env; find_cuda_dirs
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 | tee -a "$ENVLOG"
  say "CUDA dirs: ${CUDA_DIRS[*]}  TensorRT: ${TRT_DIR:-none}"
  LOGS="$OUT/logs.txt"; MET="$OUT/metrics.txt"; TABLE="$OUT/gpu-bench.md"
  # What perceptd's own preload does with the whole folders (as deploy/gpu-bench.sh passes them).
  f=$(pipeline fulldirs cuda 1 5 "${CUDA_DIRS[@]}")
  { echo "===== check with the whole folders: ${CUDA_DIRS[*]}"; timeout 90 bash "$0" _pd check "$f"; echo "rc=$?"; } >>"$LOGS" 2>&1
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,clocks.sm --format=csv -lms 500 >"$OUT/smi.csv" 2>&1 &
  SMI=$!
  {
    echo "| provider | batch | pipeline frames/s | bare Session::run frames/s | detect p50 ms/frame | detect p99 ms/frame | provider in use | fallbacks |"
    echo "|---|---|---|---|---|---|---|---|"
  } >"$TABLE"
  runs=("cpu cpu 1 300" "cuda cuda 1 2000" "cuda8 cuda 8 4000")
  [[ -n "$TRT_DIR" ]] && runs+=("trt tensorrt 1 2000")
  port=9470
  for r in "${runs[@]}"; do
    read -r name prov b n <<<"$r"
    n="${PD_FRAMES:-$n}"  # local dry runs: fewer frames
    dirs=()
    [[ "$prov" != cpu ]] && dirs=("$P/cudalibs")
    [[ "$prov" == tensorrt ]] && dirs+=("$TRT_DIR")
    f=$(pipeline "$name" "$prov" "$b" "$n" "${dirs[@]}")
    log="$P/bench-$name.log"
    port=$((port + 1))
    python3 - "$port" "$P/metrics-$name.txt" <<'EOF' &
import sys, time, urllib.request, os
port, out = sys.argv[1], sys.argv[2]
ppid = os.getppid(); last = None; t0 = time.time()
while time.time() - t0 < 300:
    try:
        last = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        open(out, "w").write(last)
    except Exception:
        pass
    time.sleep(0.25)
EOF
    SCR=$!
    t0=$(date +%s.%N)
    timeout 240 bash "$0" _pd bench "$f" --metrics-addr "127.0.0.1:$port" >"$log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    kill "$SCR" 2>/dev/null
    { echo "===== $name ($prov, batch $b, $n frames): rc=$rc, $(echo "$t1 - $t0" | bc 2>/dev/null || python3 -c "print($t1-$t0)") s"; cat "$f"; cat "$log"; } >>"$LOGS"
    { echo "===== $name"; grep -E '^perceptd_model_provider|^perceptd_frames_total|^perceptd_model_provider_fallbacks' "$P/metrics-$name.txt" 2>/dev/null || echo "(no scrape)"; } >>"$MET"
    fps=$(sed -n 's/^pipeline: .* = \([0-9.]*\) frames\/s/\1/p' "$log")
    raw=$(sed -n 's/^raw Session::run [^:]*: [0-9]* calls of [0-9]* frames, \([0-9.]*\) frames\/s.*/\1/p' "$log")
    p50=$(awk '$1=="detect:det"{print $3; exit}' "$log")  # first match: the stage table, not the CPU-by-thread one
    p99=$(awk '$1=="detect:det"{print $4; exit}' "$log")
    used=$(sed -n 's/.*session ready.*provider="\{0,1\}\([a-z]*\)"\{0,1\}.*/\1/p' "$log" | sort -u | tr '\n' ' ')
    fb=$(grep -c 'execution provider unusable' "$log")
    [[ $rc -ne 0 ]] && fps="failed rc=$rc"
    echo "| $prov | $b | $fps | $raw | $p50 | $p99 | $used | $fb |" >>"$TABLE"
  done
  kill "$SMI" 2>/dev/null
  { echo; echo "fallback messages:"; grep -h 'execution provider unusable\|did not load\|preloaded GPU' "$P"/bench-*.log | sed 's/^[^ ]* *//' | sort | uniq -c | cut -c1-1500; } >>"$TABLE"
  cat "$TABLE"; echo; cat "$MET"
  ;;
_pd) # internal: perceptd in the prepared environment
  shift; ENVLOG=/dev/null; setup_env >/dev/null; pd "$@"
  ;;
*)
  echo "usage: $0 stage cN | probe | bench" >&2; exit 2
  ;;
esac
