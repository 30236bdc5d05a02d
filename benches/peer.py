#!/usr/bin/env python3
"""perceptd against the Python loop a user would write, on the same clip and model (issue 19).

    python3 benches/peer.py [--rounds 5] [--perceptd target/release/perceptd]
                            [--python /opt/perceptd/venv/bin/python] [--json OUT.json]

The loop (`peer.py loop ...`, run by the venv's Python): OpenCV decodes the clip
(`cv2.VideoCapture`), each frame is resized to FastestDet's 352x352 (`cv2.resize`, INTER_AREA, as
FastestDet's own ONNX Runtime demo), run by an `onnxruntime.InferenceSession` with its default
threads, decoded and NMS'd with NumPy as the demo does, boxes and labels drawn with
`cv2.rectangle` / `cv2.putText`, and the frame written by `cv2.VideoWriter` (mp4v). It reports
frames per second over the loop (the session's creation left out).

perceptd: `perceptd bench pipelines/examples/fastestdet-drive.yaml` (GStreamer decode, preprocess,
inference, decode + NMS, JSONL, drawing, x264 encode to MP4), whose `pipeline: ... frames/s` line is
read. The two run alternately, `--rounds` times each, one after the other (never together); the
medians and their ratio are printed, and written as JSON with `--json`.

Needs PERCEPTD_ASSETS (FastestDet.onnx, coco.names, solidWhiteRight.mp4) and, for the loop, numpy,
opencv-python-headless and onnxruntime (deploy/setup.sh's venv).
"""

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def loop(model, clip, out, names_file, score_thr=0.65, nms_thr=0.45):
    """The user's loop; returns (frames, seconds)."""
    import cv2
    import numpy as np
    import onnxruntime as ort

    names = [l.strip() for l in open(names_file) if l.strip()]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp_name = session.get_inputs()[0].name
    size = (352, 352)
    cap = cv2.VideoCapture(clip)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    frames = 0
    t0 = time.perf_counter()
    while True:
        ok, img = cap.read()
        if not ok:
            break
        H, W = img.shape[:2]
        if writer is None:
            writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
        x = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        x = (x.transpose(2, 0, 1).reshape(1, 3, size[1], size[0]) / 255).astype("float32")
        fmap = session.run(None, {inp_name: x})[0][0].transpose(1, 2, 0)  # [S, S, 85]
        gh, gw = fmap.shape[:2]
        score = fmap[..., 0] ** 0.6 * fmap[..., 5:].max(-1) ** 0.4
        dets = []
        for gy, gx in zip(*np.where(score > score_thr)):
            d = fmap[gy, gx]
            cx, cy = (gx + np.tanh(d[1])) / gw, (gy + np.tanh(d[2])) / gh
            bw, bh = 1 / (1 + np.exp(-d[3])), 1 / (1 + np.exp(-d[4]))
            dets.append([(cx - bw / 2) * W, (cy - bh / 2) * H, (cx + bw / 2) * W, (cy + bh / 2) * H,
                         float(score[gy, gx]), int(np.argmax(d[5:]))])
        if dets:
            a = np.array(dets)
            keep = []
            order = a[:, 4].argsort()[::-1]
            while order.size:
                i = order[0]
                keep.append(i)
                r = order[1:]
                iw = np.maximum(0, np.minimum(a[i, 2], a[r, 2]) - np.maximum(a[i, 0], a[r, 0]))
                ih = np.maximum(0, np.minimum(a[i, 3], a[r, 3]) - np.maximum(a[i, 1], a[r, 1]))
                inter = iw * ih
                area = lambda k: (a[k, 2] - a[k, 0]) * (a[k, 3] - a[k, 1])
                order = r[inter / (area(i) + area(r) - inter) <= nms_thr]
            for i in keep:
                x1, y1, x2, y2, s, c = a[i]
                cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (0, 255, 0), 2)
                cv2.putText(img, f"{names[int(c)]} {s:.2f}", (int(x1), int(y1) - 5),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
        writer.write(img)
        frames += 1
    seconds = time.perf_counter() - t0
    if writer is not None:
        writer.release()
    return frames, seconds


def run_loop(python, assets, out_dir):
    o = subprocess.run(
        [python, __file__, "loop", str(assets / "FastestDet.onnx"), str(assets / "solidWhiteRight.mp4"),
         str(out_dir / "loop.mp4"), str(assets / "coco.names")],
        check=True, capture_output=True, text=True)
    return json.loads(o.stdout)["fps"]


def run_perceptd(perceptd, out_dir):
    env = {**os.environ, "PERCEPTD_OUT": str(out_dir), "RUST_LOG": "warn"}
    o = subprocess.run([perceptd, "bench", str(REPO / "pipelines/examples/fastestdet-drive.yaml")],
                       check=True, capture_output=True, text=True, env=env)
    m = re.search(r"pipeline: (\d+) frames in [0-9.]+ s = ([0-9.]+) frames/s", o.stdout)
    if not m:
        sys.exit(f"perceptd bench printed no pipeline line:\n{o.stdout}\n{o.stderr}")
    return float(m.group(2))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "loop":
        frames, seconds = loop(*sys.argv[2:6])
        print(json.dumps({"frames": frames, "seconds": seconds, "fps": frames / seconds}))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--perceptd", default=str(REPO / "target/release/perceptd"))
    ap.add_argument("--python", default="/opt/perceptd/venv/bin/python")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    assets = pathlib.Path(os.environ.get("PERCEPTD_ASSETS") or sys.exit("set PERCEPTD_ASSETS"))
    loop_fps, ours_fps = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        for r in range(a.rounds):
            loop_fps.append(run_loop(a.python, assets, out))
            ours_fps.append(run_perceptd(a.perceptd, out))
            print(f"round {r + 1}: Python loop {loop_fps[-1]:.1f} frames/s, perceptd {ours_fps[-1]:.1f} frames/s",
                  file=sys.stderr, flush=True)
    lm, om = statistics.median(loop_fps), statistics.median(ours_fps)
    result = {"clip": "solidWhiteRight.mp4", "model": "FastestDet.onnx", "rounds": a.rounds,
              "python_loop_fps": loop_fps, "perceptd_fps": ours_fps,
              "python_loop_median": lm, "perceptd_median": om, "ratio": om / lm}
    print(f"FastestDet, decode -> annotated video, {a.rounds} alternating rounds: Python loop median "
          f"{lm:.1f} frames/s, perceptd median {om:.1f} frames/s, ratio {om / lm:.2f}")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
