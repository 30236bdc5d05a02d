#!/usr/bin/env python3
"""What `perceptd replay` costs over `perceptd bench` on the same pipeline and drive: both run the
pipeline as fast as it goes; replay adds the progress display, the summaries and report.html.
Runs alternate (bench, replay, bench, ...) so that both see the same machine; medians and ratio.

    PERCEPTD_ASSETS=../shared/assets python3 deploy/replay_overhead.py [--runs 5] [PIPELINE]

PIPELINE defaults to pipelines/examples/fastestdet-drive.yaml on the assets' solidWhiteRight.mp4.
"""

import argparse
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent


def run(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{p.stderr}")
    return p.stdout + p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pipeline", nargs="?", default=str(REPO / "pipelines/examples/fastestdet-drive.yaml"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--binary", default=str(REPO / "target/release/perceptd"))
    a = ap.parse_args()
    assets = os.environ.get("PERCEPTD_ASSETS")
    if not assets:
        sys.exit("set PERCEPTD_ASSETS to the shared assets folder (see README)")
    drive = pathlib.Path(assets) / "solidWhiteRight.mp4"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="perceptd-overhead-"))
    env = dict(os.environ, PERCEPTD_OUT=str(tmp / "bench-out"), RUST_LOG="warn")
    env.setdefault("ORT_DYLIB_PATH", "/opt/perceptd/lib/libonnxruntime.so")
    bench, replay = [], []
    try:
        for i in range(a.runs):
            out = run([a.binary, "bench", a.pipeline], env)
            bench.append(float(re.search(r"pipeline: \d+ frames in [\d.]+ s = ([\d.]+) frames/s", out).group(1)))
            rdir = tmp / f"replay-{i}"
            out = run([a.binary, "replay", a.pipeline, "--input", str(drive), "--out", str(rdir),
                       "--progress", "lines"], env)
            replay.append(float(re.search(r"frames in [\d.]+ s \(([\d.]+) frames/s\)", out).group(1)))
            print(f"run {i + 1}: bench {bench[-1]:.2f} frames/s, replay {replay[-1]:.2f} frames/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mb, mr = statistics.median(bench), statistics.median(replay)
    print(f"median of {a.runs}: bench {mb:.2f} frames/s, replay {mr:.2f} frames/s, "
          f"replay / bench = {mr / mb:.3f} ({(mr / mb - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
