#!/usr/bin/env python3
"""Measures perceptd's own models on held-out sample drives: the numbers of the model cards.

    python3 models/measure.py [--perceptd target/release/perceptd] [--seeds 1000-1004]
                              [--work /tmp/perceptd-measure]

For each seed (none of them a training seed: models/train.py trains on 1..12), it generates the
drive (the default 1200 frames, 960x540, 30 fps) with `perceptd sample-drive` and replays
`pipelines/sample-drive.yaml` on it with `perceptd replay --gt`: detection mAP@0.5 and
mAP@0.5:0.95 with per-class AP@0.5, segmentation per-class IoU and mIoU, tracking IDF1 and MOTA,
all computed by perceptd's evaluators (each checked against its Python reference in the tests).
Prints a markdown table per model and the mean over the seeds. Standard library only.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
DET = ["car", "truck", "bus", "person"]
SEG = ["background", "road", "lane", "vehicle", "person"]


def seeds(text):
    a, _, b = text.partition("-")
    return list(range(int(a), int(b or a) + 1))


def run(perceptd, work, seed):
    drive = work / f"seed{seed}"
    subprocess.run([perceptd, "sample-drive", "--seed", str(seed), "--out", str(drive)],
                   check=True, stderr=subprocess.DEVNULL)
    out = work / f"run{seed}"
    subprocess.run([perceptd, "replay", str(REPO / "pipelines/sample-drive.yaml"),
                    "--input", str(drive / "drive.mp4"), "--gt", str(drive / "gt"),
                    "--out", str(out), "--progress", "off", "--no-report"],
                   check=True, stderr=subprocess.DEVNULL, env={**os.environ, "PERCEPTD_THREADS": "2"})
    d = json.loads((out / "run.json").read_text())["drives"][0]
    return d["eval"], d["fps"]


def mean(xs):
    return sum(xs) / len(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--perceptd", default=str(REPO / "target/release/perceptd"))
    ap.add_argument("--seeds", type=seeds, default=seeds("1000-1004"))
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/perceptd-measure"))
    ap.add_argument("--runs", type=pathlib.Path,
                    help="tabulate replays already made (RUNS/<seed>/run.json) instead of running them")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in a.seeds:
        if a.runs:
            d = json.loads((a.runs / str(s) / "run.json").read_text())["drives"][0]
            ev, fps = d["eval"], d["fps"]
        else:
            ev, fps = run(a.perceptd, a.work, s)
        det, seg, mot = ev["det"], ev["seg"], ev["mot"]
        rows.append({
            "seed": s,
            "map50": det["map50"], "map": det["map"],
            **{f"ap50 {c}": det["classes"].get(c, {}).get("ap50", float("nan")) for c in DET},
            "miou": seg["miou"],
            # Named by the pipeline's head since the replay knows them; `class N` before.
            **{f"iou {c}": (seg["classes"].get(c) or seg["classes"][f"class {i}"])["iou"] for i, c in enumerate(SEG)},
            "idf1": mot["idf1"], "mota": mot["mota"], "idsw": mot["num_switches"],
            "idsw/100 tracks": 100.0 * mot["num_switches"] / max(1, mot["num_unique_objects"]),
            "frames/s": fps,
        })
        print(f"seed {s}: mAP@0.5 {det['map50']:.3f}, mIoU {seg['miou']:.3f}, IDF1 {mot['idf1']:.3f}",
              file=sys.stderr, flush=True)
    cols = list(rows[0].keys())
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) if c in ("seed", "idsw") else f"{r[c]:.3f}" for c in cols) + " |")
    print("| mean | " + " | ".join(f"{mean([r[c] for r in rows]):.3f}" for c in cols[1:]) + " |")


if __name__ == "__main__":
    sys.exit(main())
