#!/usr/bin/env python3
"""Trains perceptd's own small models on generated sample drives (issue 9), seeded, CPU only.

    python models/train.py [--perceptd target/release/perceptd] [--work /tmp/perceptd-train]
                           [--drives 14] [--det-epochs 10] [--seg-epochs 12] [--out models]

1. `perceptd sample-drive --seed S` writes the training drives (seeds 1..N): MP4 (decoded here by
   OpenCV, the pixels perceptd's sources give), detection ground truth (JSONL), class maps (PNG).
2. A small anchor-free detector (stride 4, 8, 16 and 32 heads, FCOS-style centre sampling, focal BCE for
   classes, GIoU for boxes) is trained on crops of letterboxed 960x544 RGB inputs, then exported with the
   Ultralytics YOLOv8 output layout `[1, 4 + nc, N]` (cx, cy, w, h in input pixels, class
   probabilities) and its class names, `imgsz` and `stride` in the ONNX metadata:
   `models/perceptd-det.onnx`.
3. A small fully convolutional segmentation net (encoder to stride 16, a U-Net-style decoder of
   transposed convolutions back to the input size) is trained on crops of stretched 480x272
   inputs with cross entropy over background, road, lane, vehicle, person:
   `models/perceptd-seg.onnx`, output `seg`.

Needs torch, numpy, pillow, onnx, opencv-python-headless (a venv outside the repository: PyPI's
torch is the CUDA build, several GB). Accuracy is measured afterwards by the Rust side on drives of other seeds (see the
model cards).
"""

import argparse
import json
import math
import os
import pathlib
import random
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parent.parent
SEED = 20261128
DET_CLASSES = ["car", "truck", "bus", "person"]
SEG_CLASSES = ["background", "road", "lane", "vehicle", "person"]
# Most ground-truth boxes of a drive are far away: 16 px high at 960x540 is a car at ~60 m. At
# 512x288 with strides 8 and 16 the detector found 4 % of the boxes under 16 px and 15 % of those
# under 32 px; 640x368 (the frame at 2/3) with a stride-4 level found 32 % and 89 % of the cars;
# the full 960x544 (2 rows of padding above and below) gives the far ones half as many pixels again.
DET_W, DET_H = 960, 544
SEG_W, SEG_H = 480, 272
STRIDES = (4, 8, 16, 32)
# A box goes to the level by its longer side (input pixels): < 24 to stride 4, < 72 to 8, < 160
# to 16.
LEVEL_MAX = (24, 72, 160, float("inf"))
# Training crops (multiples of the largest stride): half the pixels, twice the images per second;
# the nets are fully convolutional, inference runs on the whole input.
DET_CROP = (448, 256)
SEG_CROP = (320, 192)


def seed_all(s):
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


# ------------------------------------------------------------------------------------------------
# Data


def generate(perceptd, work, seeds, frames):
    drives = []
    for s in seeds:
        d = work / f"seed{s}"
        if not (d / "gt" / "drive.jsonl").is_file() or not (d / "drive.mp4").is_file():
            subprocess.run([perceptd, "sample-drive", "--seed", str(s), "--out", str(d),
                            "--frames", str(frames), "--name", "drive"], check=True)
        drives.append(d)
    return drives


def frames_of(drive, every):
    """The drive's MP4 decoded by OpenCV (FFmpeg), RGB: the pixels perceptd's sources give the
    models (`src/source/yuv.rs` is bit-exact with it), compression artefacts included."""
    import cv2
    cap = cv2.VideoCapture(str(drive / "drive.mp4"))
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i % every == 0:
            yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        i += 1


def letterbox(img, w, h):
    """Ultralytics letterbox as perceptd does it (OpenCV bilinear): scale to fit, round, centre,
    pad 114."""
    import cv2
    sh, sw = img.shape[:2]
    s = min(w / sw, h / sh)
    nw, nh = round(sw * s), round(sh * s)
    left, top = (w - nw) // 2, (h - nh) // 2
    canvas = np.full((h, w, 3), 114, np.uint8)
    canvas[top:top + nh, left:left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, s, left, top


def load_det(drives, every):
    xs, boxes = [], []
    for d in drives:
        gt = {}
        for l in (d / "gt" / "drive.jsonl").read_text().splitlines():
            if l.strip():
                r = json.loads(l)
                gt[r["frame"]] = r
        for i, img in frames_of(d, every):
            arr, s, left, top = letterbox(img, DET_W, DET_H)
            xs.append(arr)
            b = [(DET_CLASSES.index(o["label"]), o["bbox"][0] * s + left, o["bbox"][1] * s + top,
                  o["bbox"][2] * s + left, o["bbox"][3] * s + top)
                 for o in gt[i]["objects"] if o["label"] in DET_CLASSES and not o.get("iscrowd")]
            boxes.append(np.array(b, dtype=np.float32).reshape(-1, 5))
    return np.stack(xs), boxes


def load_seg(drives, every):
    import cv2
    xs, ys = [], []
    for d in drives:
        for i, img in frames_of(d, every):
            lab = np.asarray(Image.open(d / "gt" / "drive" / f"{i:06d}.png"), dtype=np.uint8)
            xs.append(cv2.resize(img, (SEG_W, SEG_H), interpolation=cv2.INTER_LINEAR))
            ys.append(cv2.resize(lab, (SEG_W, SEG_H), interpolation=cv2.INTER_NEAREST))
    return np.stack(xs), np.stack(ys)


def to_input(batch_u8):
    return torch.from_numpy(batch_u8).permute(0, 3, 1, 2).float() / 255.0


def photometric(img, rng):
    """Light and sensor changes: brightness, contrast, colour cast, blur, noise."""
    import cv2
    x = img.astype(np.float32)
    x = (x - 128.0) * rng.uniform(0.7, 1.3) + 128.0 * rng.uniform(0.7, 1.3)
    x *= rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    if rng.random() < 0.25:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.2))
    if rng.random() < 0.25:
        x += rng.normal(0, rng.uniform(2, 6), size=x.shape).astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# Detector


def cbr(i, o, s=1):
    return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.SiLU())


class Detector(nn.Module):
    """Stride 4, 8, 16 and 32 features, top-down sums (a small FPN), one head per level. The
    stride-32 level sees about 310 input pixels (stride 16: about 120), so a bus a few metres
    ahead is one object to it, not several."""

    def __init__(self, nc):
        super().__init__()
        self.nc = nc
        self.p2 = nn.Sequential(cbr(3, 16, 2), cbr(16, 32, 2), cbr(32, 32))  # /4
        self.p3 = nn.Sequential(cbr(32, 64, 2), cbr(64, 64))  # /8
        self.p4 = nn.Sequential(cbr(64, 96, 2), cbr(96, 96))  # /16
        self.p5 = nn.Sequential(cbr(96, 128, 2), cbr(128, 128), cbr(128, 128))  # /32
        self.up5 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), cbr(128, 96))
        self.up4 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), cbr(96, 64))
        self.up3 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), cbr(64, 32))
        self.heads = nn.ModuleList([nn.Sequential(cbr(32, 32), nn.Conv2d(32, 4 + nc, 1)),
                                    nn.Sequential(cbr(64, 64), nn.Conv2d(64, 4 + nc, 1)),
                                    nn.Sequential(cbr(96, 64), nn.Conv2d(64, 4 + nc, 1)),
                                    nn.Sequential(cbr(128, 64), nn.Conv2d(64, 4 + nc, 1))])
        for h in self.heads:  # start with low class probability (focal-loss prior)
            nn.init.constant_(h[-1].bias[4:], -4.6)

    def raw(self, x):
        p2 = self.p2(x)
        p3 = self.p3(p2)
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        p4 = p4 + self.up5(p5)
        p3 = p3 + self.up4(p4)
        p2 = p2 + self.up3(p3)
        return [self.heads[0](p2), self.heads[1](p3), self.heads[2](p4), self.heads[3](p5)]

    def forward(self, x):
        """YOLOv8 layout: [B, 4 + nc, N]: cx, cy, w, h (input pixels), class probabilities."""
        outs = []
        for o, s in zip(self.raw(x), STRIDES):
            b, _, h, w = o.shape
            gy, gx = torch.meshgrid(torch.arange(h, dtype=o.dtype), torch.arange(w, dtype=o.dtype), indexing="ij")
            cx, cy = (gx + 0.5) * s, (gy + 0.5) * s
            ltrb = F.softplus(o[:, :4]) * s * 4
            x1, y1, x2, y2 = cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]
            box = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)
            cls = torch.sigmoid(o[:, 4:])
            outs.append(torch.cat([box, cls], 1).flatten(2))
        return torch.cat(outs, 2)


def assign(boxes, h, w):
    """Per level: class target [nc, h/s, w/s] and box target [4, h/s, w/s] (x1y1x2y2, NaN: none).
    A box goes to the level of its longer side (LEVEL_MAX), to the cells whose centres lie inside
    the box and within 2.5 strides of its centre (at least its centre cell); a cell claimed twice
    keeps the smaller box."""
    out = []
    order = np.argsort(-(boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2])) if len(boxes) else []
    for li, s in enumerate(STRIDES):
        gh, gw = h // s, w // s
        cls = np.zeros((len(DET_CLASSES), gh, gw), np.float32)
        reg = np.full((4, gh, gw), np.nan, np.float32)
        lo = LEVEL_MAX[li - 1] if li else 0
        ys = (np.arange(gh) + 0.5) * s
        xs = (np.arange(gw) + 0.5) * s
        for k in order:  # largest first: smaller boxes overwrite the cells they share
            c, x1, y1, x2, y2 = boxes[k]
            side = max(x2 - x1, y2 - y1)
            if not (lo <= side < LEVEL_MAX[li]):
                continue
            bx, by, r = (x1 + x2) / 2, (y1 + y2) / 2, 2.5 * s
            my = (ys > max(y1, by - r)) & (ys < min(y2, by + r))
            mx = (xs > max(x1, bx - r)) & (xs < min(x2, bx + r))
            if not my.any() or not mx.any():
                my = np.zeros(gh, bool)
                mx = np.zeros(gw, bool)
                my[min(gh - 1, max(0, int(by // s)))] = True
                mx[min(gw - 1, max(0, int(bx // s)))] = True
            m = my[:, None] & mx[None, :]
            cls[:, m] = 0
            cls[int(c), m] = 1
            reg[:, m] = np.array([x1, y1, x2, y2], np.float32)[:, None]
        out.append((cls, reg))
    return out


def giou(p, t):
    ix1, iy1 = torch.max(p[:, 0], t[:, 0]), torch.max(p[:, 1], t[:, 1])
    ix2, iy2 = torch.min(p[:, 2], t[:, 2]), torch.min(p[:, 3], t[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    at = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    union = ap + at - inter + 1e-7
    cx1, cy1 = torch.min(p[:, 0], t[:, 0]), torch.min(p[:, 1], t[:, 1])
    cx2, cy2 = torch.max(p[:, 2], t[:, 2]), torch.max(p[:, 3], t[:, 3])
    c = (cx2 - cx1) * (cy2 - cy1) + 1e-7
    return inter / union - (c - union) / c


def det_loss(model, x, targets):
    loss_cls, loss_box, npos = 0.0, 0.0, 0
    for li, (o, s) in enumerate(zip(model.raw(x), STRIDES)):
        cls_t = torch.from_numpy(np.stack([t[li][0] for t in targets]))
        reg_t = torch.from_numpy(np.stack([t[li][1] for t in targets]))
        logits = o[:, 4:]
        p = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, cls_t, reduction="none")
        pt = p * cls_t + (1 - p) * (1 - cls_t)
        alpha = 0.25 * cls_t + 0.75 * (1 - cls_t)
        loss_cls = loss_cls + (alpha * (1 - pt) ** 2 * ce).sum()
        pos = ~torch.isnan(reg_t[:, 0])
        n = int(pos.sum())
        npos += n
        if n:
            b, _, h, w = o.shape
            gy, gx = torch.meshgrid(torch.arange(h, dtype=o.dtype), torch.arange(w, dtype=o.dtype), indexing="ij")
            cx = ((gx + 0.5) * s).expand(b, h, w)[pos]
            cy = ((gy + 0.5) * s).expand(b, h, w)[pos]
            ltrb = F.softplus(o[:, :4]).permute(0, 2, 3, 1)[pos] * s * 4
            pb = torch.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], 1)
            tb = reg_t.permute(0, 2, 3, 1)[pos]
            loss_box = loss_box + (1 - giou(pb, tb)).sum()
    npos = max(npos, 1)
    return loss_cls / npos + 2.0 * loss_box / npos


def crop_origin(rng, full, crop, step):
    return int(rng.integers(0, (full - crop) // step + 1)) * step


# Share of detector training crops zoomed out (--zoom): a 448x256 crop of a 960x544 input never
# holds a bus 9 m ahead (~220 px high, usually cut), so without them a full-size detector splits
# the nearest vehicles, those that matter most, into fragments.
ZOOM = 0.5


def augment_det(img, boxes, rng):
    """A crop (aligned to the largest stride), horizontal flip and photometric changes. Boxes cut
    by the crop are kept clipped when at least 40 % of them stays inside. A share ZOOM of the
    crops take a region up to the whole input instead, shrunk to the crop's size, so that near
    objects are seen whole at the crop's scale."""
    import cv2

    cw, ch = DET_CROP
    kmax = min(DET_W / cw, DET_H / ch)
    k = float(rng.uniform(1.0, kmax)) if ZOOM > 0 and kmax > 1.0 and rng.random() < ZOOM else 1.0
    rw, rh = min(DET_W, round(cw * k)), min(DET_H, round(ch * k))
    if k > 1.0:
        x0 = int(rng.integers(0, DET_W - rw + 1))
        y0 = int(rng.integers(0, DET_H - rh + 1))
        img = cv2.resize(img[y0:y0 + rh, x0:x0 + rw], (cw, ch), interpolation=cv2.INTER_AREA)
    else:
        x0 = crop_origin(rng, DET_W, cw, STRIDES[-1])
        y0 = crop_origin(rng, DET_H, ch, STRIDES[-1])
        img = img[y0:y0 + ch, x0:x0 + cw]
    sx, sy = cw / rw, ch / rh
    if len(boxes):
        b = boxes.copy()
        area = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
        b[:, [1, 3]] = np.clip(b[:, [1, 3]] - x0, 0, rw)
        b[:, [2, 4]] = np.clip(b[:, [2, 4]] - y0, 0, rh)
        keep = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2]) >= 0.4 * np.maximum(area, 1e-6)
        b[:, [1, 3]] *= sx
        b[:, [2, 4]] *= sy
        keep &= (b[:, 3] - b[:, 1] >= 1) & (b[:, 4] - b[:, 2] >= 1)
        boxes = b[keep]
    if rng.random() < 0.5:
        img = img[:, ::-1]
        if len(boxes):
            boxes = boxes.copy()
            x1 = cw - boxes[:, 3]
            boxes[:, 3] = cw - boxes[:, 1]
            boxes[:, 1] = x1
    return np.ascontiguousarray(photometric(img, rng)), boxes


def train_det(xs, boxes, epochs, batch=32):
    seed_all(SEED)
    model = Detector(len(DET_CLASSES))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    steps = epochs * math.ceil(len(xs) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(SEED)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        order = rng.permutation(len(xs))
        tot = 0.0
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            imgs, targets = [], []
            for i in idx:
                im, bx = augment_det(xs[i], boxes[i], rng)
                imgs.append(im)
                targets.append(assign(bx, DET_CROP[1], DET_CROP[0]))
            loss = det_loss(model, to_input(np.stack(imgs)), targets)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        print(f"det epoch {ep + 1}/{epochs}: loss {tot / len(xs):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return model.eval()


# ------------------------------------------------------------------------------------------------
# Segmentation


class Segmenter(nn.Module):
    """Encoder to stride 16, a decoder that adds the stride 8, 4 and 2 features back (U-Net
    style: the lane markings are 1-3 px wide at the input), logits at the input size."""

    def __init__(self, nc):
        super().__init__()
        self.e1 = cbr(3, 16, 2)  # /2
        self.e2 = nn.Sequential(cbr(16, 32, 2), cbr(32, 32))  # /4
        self.e3 = nn.Sequential(cbr(32, 64, 2), cbr(64, 64))  # /8
        self.e4 = nn.Sequential(cbr(64, 96, 2), cbr(96, 96))  # /16

        def up(i, o):
            return nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.SiLU())
        self.d3 = up(96, 64)
        self.d2 = up(64, 32)
        self.d1 = up(32, 16)
        self.out = nn.Sequential(cbr(16, 16), nn.ConvTranspose2d(16, nc, 4, 2, 1))

    def forward(self, x):
        f1 = self.e1(x)
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        f4 = self.e4(f3)
        y = self.d3(f4) + f3
        y = self.d2(y) + f2
        y = self.d1(y) + f1
        return self.out(y)


def train_seg(xs, ys, epochs, batch=16):
    seed_all(SEED + 1)
    model = Segmenter(len(SEG_CLASSES))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(xs) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=steps, pct_start=0.1)
    # Rare classes (lane, person) weigh more.
    freq = np.bincount(ys.reshape(-1), minlength=len(SEG_CLASSES)).astype(np.float64)
    weight = torch.tensor((freq.sum() / np.maximum(freq, 1)) ** 0.5, dtype=torch.float32)
    weight = weight / weight.mean()
    rng = np.random.default_rng(SEED + 1)
    cw, ch = SEG_CROP
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        order = rng.permutation(len(xs))
        tot = 0.0
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            x0 = crop_origin(rng, SEG_W, cw, 16)
            y0 = crop_origin(rng, SEG_H, ch, 16)
            x = xs[idx, y0:y0 + ch, x0:x0 + cw]
            y = ys[idx, y0:y0 + ch, x0:x0 + cw]
            if rng.random() < 0.5:
                x, y = x[:, :, ::-1], y[:, :, ::-1]
            x = np.stack([photometric(im, rng) for im in x])
            x = to_input(np.ascontiguousarray(x))
            y = torch.from_numpy(np.ascontiguousarray(y)).long()
            loss = F.cross_entropy(model(x), y, weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        print(f"seg epoch {ep + 1}/{epochs}: loss {tot / len(xs):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return model.eval()


# ------------------------------------------------------------------------------------------------
# Export


def export(model, shape, path, output, meta):
    import onnx
    x = torch.zeros(shape)
    torch.onnx.export(model, x, str(path), input_names=["images"], output_names=[output],
                      opset_version=17, dynamo=False)
    m = onnx.load(str(path))
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(path))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def set_det_size(text):
    global DET_W, DET_H
    DET_W, DET_H = (int(v) for v in text.split("x"))


def main():
    global ZOOM
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--perceptd", default=str(REPO / "target/release/perceptd"))
    ap.add_argument("--work", default="/tmp/perceptd-train")
    ap.add_argument("--out", default=str(REPO / "models"))
    ap.add_argument("--drives", type=int, default=14)
    ap.add_argument("--frames", type=int, default=1200)
    ap.add_argument("--every", type=int, default=5, help="use every N-th frame")
    ap.add_argument("--det-epochs", type=int, default=12)
    ap.add_argument("--seg-epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--det-size", default=f"{DET_W}x{DET_H}",
                    help="the detector's input, WxH, multiples of 32 (960x544: the frame at full size; "
                         "training crops stay 448x256, so an epoch costs the same, inference more)")
    ap.add_argument("--zoom", type=float, default=ZOOM,
                    help="share (0-1) of detector training crops that take a larger region of the input "
                         "shrunk to the crop's size (near objects seen whole); 0: none, as the former "
                         "640x368 detector was trained")
    ap.add_argument("--only", choices=["det", "seg"], help="train one of the two models")
    a = ap.parse_args()
    set_det_size(a.det_size)
    if not 0.0 <= a.zoom <= 1.0:
        sys.exit(f"--zoom {a.zoom}: a share between 0 and 1")
    ZOOM = a.zoom
    if DET_W % 32 or DET_H % 32 or DET_W < DET_CROP[0] or DET_H < DET_CROP[1]:
        sys.exit(f"--det-size {a.det_size}: width and height must be multiples of 32, at least the "
                 f"{DET_CROP[0]}x{DET_CROP[1]} training crops")
    torch.set_num_threads(a.threads)
    work, out = pathlib.Path(a.work), pathlib.Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    drives = generate(a.perceptd, work, range(1, a.drives + 1), a.frames)
    print(f"{len(drives)} training drives ({time.time() - t0:.0f} s)", flush=True)
    if a.only != "seg":
        train_and_export_det(a, drives, out)
    if a.only != "det":
        train_and_export_seg(a, drives, out)
    print(f"done in {time.time() - t0:.0f} s")


def train_and_export_det(a, drives, out):
    xs, boxes = load_det(drives, a.every)
    det = train_det(xs, boxes, a.det_epochs)
    export(det, (1, 3, DET_H, DET_W), out / "perceptd-det.onnx", "output0", {
        "names": repr(dict(enumerate(DET_CLASSES))),
        "imgsz": f"[{DET_H}, {DET_W}]",
        "stride": str(max(STRIDES)),
        "task": "detect",
        "description": f"perceptd-det: trained by models/train.py, seed {SEED}, drives 1..{a.drives}",
    })


def train_and_export_seg(a, drives, out):
    sx, sy = load_seg(drives, a.every)
    seg = train_seg(sx, sy, a.seg_epochs)
    export(seg, (1, 3, SEG_H, SEG_W), out / "perceptd-seg.onnx", "seg", {
        "names": repr(dict(enumerate(SEG_CLASSES))),
        "imgsz": f"[{SEG_H}, {SEG_W}]",
        "description": f"perceptd-seg: trained by models/train.py, seed {SEED + 1}, drives 1..{a.drives}",
    })


if __name__ == "__main__":
    sys.exit(main())
