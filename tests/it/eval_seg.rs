//! `perceptd eval seg` (`perceptd::eval::seg`) agrees with NumPy (`tests/fixtures/seg_reference.py`:
//! Pillow reads the same PNGs, `np.bincount` builds the confusion matrix, `np.nanmean` the mIoU)
//! on generated road scenes and on the masks perceptd's own mask sink writes; bad input gets clear
//! errors; a 960x540 frame costs a few milliseconds.
//!
//! Tolerance: the confusion matrices must be equal count for count. IoUs are quotients of the
//! same integers, so they agree to the last bit; the means (mIoU, per-frame mIoU) may differ in
//! summation order only, so 1e-9 is generous.

use crate::common::*;
use perceptd::eval::seg::{
    self, Confusion, SegError, SegOptions, SegReport, add_frame, evaluate_dirs, read_class_map,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOL: f64 = 1e-9;

// ---------------------------------------------------------------------------------------------
// PNG writing.

#[derive(Clone, Copy)]
enum Kind<'a> {
    /// 8-bit grayscale.
    Gray,
    /// Indexed of 1, 2, 4 or 8 bits (rows packed MSB first, as PNG wants).
    Indexed(u8, &'a [u8]),
    /// 8-bit RGB (not a class map).
    Rgb,
}

fn write_png(path: &Path, w: u32, h: u32, px: &[u8], kind: Kind) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_compression(png::Compression::Fast);
    let data: Vec<u8> = match kind {
        Kind::Gray => {
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            px.to_vec()
        }
        Kind::Rgb => {
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            px.to_vec()
        }
        Kind::Indexed(bits, palette) => {
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(match bits {
                1 => png::BitDepth::One,
                2 => png::BitDepth::Two,
                4 => png::BitDepth::Four,
                _ => png::BitDepth::Eight,
            });
            enc.set_palette(palette.to_vec());
            let per_byte = 8 / bits as usize;
            let row_bytes = (w as usize).div_ceil(per_byte);
            let mut out = vec![0u8; row_bytes * h as usize];
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let v = px[y * w as usize + x];
                    assert!(u32::from(v) < 1 << bits, "{v} does not fit {bits} bits");
                    let shift = 8 - bits as usize * (x % per_byte + 1);
                    out[y * row_bytes + x / per_byte] |= v << shift;
                }
            }
            out
        }
    };
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(&data).unwrap();
    wr.finish().unwrap();
}

/// A palette of `n` distinct colours.
fn palette(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|k| {
            [
                (k * 50 % 256) as u8,
                (k * 90 % 256) as u8,
                (k * 130 % 256) as u8,
            ]
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Generated road scenes: 0 background, 1 road below the horizon, 2 two lane lines, 3 vehicles.
// Class 4 is never drawn; class 5 appears only as prediction noise.

#[derive(Clone)]
struct Scene {
    /// Fractions of the height / width.
    horizon: f64,
    /// Lane lines: x at the bottom and x at the horizon.
    lanes: [(f64, f64); 2],
    /// Vehicles: x0, y0, x1, y1.
    cars: Vec<[f64; 4]>,
}

fn scene(r: &mut Rng) -> Scene {
    let horizon = r.range(0.35, 0.5);
    let cars = (0..1 + r.below(3))
        .map(|_| {
            let (x, y) = (r.range(0.05, 0.75), r.range(horizon, 0.8));
            [x, y, x + r.range(0.08, 0.2), y + r.range(0.06, 0.18)]
        })
        .collect();
    Scene {
        horizon,
        lanes: [
            (r.range(0.1, 0.3), r.range(0.42, 0.48)),
            (r.range(0.7, 0.9), r.range(0.52, 0.58)),
        ],
        cars,
    }
}

/// The scene as a model would get it roughly right: edges shifted, a car missed or made up.
fn perturb(s: &Scene, r: &mut Rng) -> Scene {
    let mut p = s.clone();
    p.horizon += r.range(-0.03, 0.03);
    for l in &mut p.lanes {
        l.0 += r.range(-0.02, 0.02);
        l.1 += r.range(-0.01, 0.01);
    }
    for c in &mut p.cars {
        for v in c.iter_mut() {
            *v += r.range(-0.02, 0.02);
        }
    }
    if r.chance(0.2) {
        p.cars.pop();
    }
    if r.chance(0.2) {
        p.cars.push([0.4, 0.6, 0.5, 0.7]);
    }
    p
}

fn draw(s: &Scene, w: usize, h: usize) -> Vec<u8> {
    let mut px = vec![0u8; w * h];
    let hy = s.horizon * h as f64;
    for y in 0..h {
        let yf = y as f64;
        if yf < hy {
            continue;
        }
        let t = (yf - hy) / (h as f64 - hy); // 0 at the horizon, 1 at the bottom
        let half = 0.5 + t * w as f64 / 120.0;
        for x in 0..w {
            let xf = x as f64;
            let mut c = 1;
            for &(bottom, top) in &s.lanes {
                let lx = (top + (bottom - top) * t) * w as f64;
                if (xf - lx).abs() <= half {
                    c = 2;
                }
            }
            px[y * w + x] = c;
        }
    }
    for c in &s.cars {
        let (x0, y0) = ((c[0] * w as f64) as usize, (c[1] * h as f64) as usize);
        let (x1, y1) = (
            ((c[2] * w as f64) as usize).min(w),
            ((c[3] * h as f64) as usize).min(h),
        );
        for y in y0..y1 {
            px[y * w + x0.min(x1)..y * w + x1].fill(3);
        }
    }
    px
}

/// Sets `frac` of the pixels to a random value of `classes`.
fn noise(px: &mut [u8], frac: f64, classes: &[u8], r: &mut Rng) {
    for v in px.iter_mut() {
        if r.chance(frac) {
            *v = classes[r.below(classes.len() as u32) as usize];
        }
    }
}

/// Ground truth of frame `f`: a hood strip and random pixels marked 255 (ignore).
fn mark_ignored(px: &mut [u8], w: usize, h: usize, r: &mut Rng, hood: bool) {
    if hood {
        px[(h - h / 10) * w..].fill(255);
    }
    noise(px, 0.01, &[255], r);
}

// ---------------------------------------------------------------------------------------------
// The NumPy reference and the comparison.

/// Runs seg_reference.py on explicit `(frame, gt, pred)` triples. A missing Python, NumPy or
/// Pillow fails the test: the agreement is the point.
fn reference(
    ignore: Option<u8>,
    classes: Option<usize>,
    pairs: &[(u64, PathBuf, PathBuf)],
) -> Value {
    let python = std::env::var("PERCEPTD_TEST_PYTHON").expect(
        "PERCEPTD_TEST_PYTHON must name a Python with numpy and pillow (the setup's venv: bash deploy/setup.sh install-deps)",
    );
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(fixtures().join("seg_reference.py"))
        .arg(ignore.map_or("none".into(), |i| i.to_string()))
        .arg(classes.map_or("auto".into(), |n| n.to_string()));
    for (f, g, p) in pairs {
        cmd.arg(f.to_string()).arg(g).arg(p);
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run PERCEPTD_TEST_PYTHON={python}: {e}"));
    assert!(
        o.status.success(),
        "seg_reference.py failed with {python} (numpy and pillow installed? bash deploy/setup.sh install-deps):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "seg_reference.py: not JSON ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn close(what: &str, a: Option<f64>, b: Option<f64>, worst: &mut f64) {
    match (a, b) {
        (Some(x), Some(y)) => {
            let d = (x - y).abs();
            *worst = worst.max(d);
            assert!(d <= TOL, "{what}: perceptd {x}, NumPy {y}");
        }
        (None, None) => {}
        _ => panic!("{what}: perceptd {a:?}, NumPy {b:?}"),
    }
}

/// Checks a report against the reference; returns the largest difference seen.
fn compare(what: &str, ours: &SegReport, theirs: &Value) -> f64 {
    let n = theirs["num_classes"].as_u64().unwrap() as usize;
    assert_eq!(ours.classes.len(), n, "{what}: number of classes");
    let cm = theirs["confusion"].as_array().unwrap();
    for (g, row) in cm.iter().enumerate() {
        for (p, v) in row.as_array().unwrap().iter().enumerate() {
            assert_eq!(
                ours.confusion.count(g as u8, p as u8),
                v.as_u64().unwrap(),
                "{what}: confusion[{g}][{p}]"
            );
        }
    }
    assert_eq!(ours.confusion.pixels(), theirs["pixels"].as_u64().unwrap());
    assert_eq!(
        ours.confusion.ignored(),
        theirs["ignored"].as_u64().unwrap()
    );
    let mut worst = 0f64;
    for (k, c) in ours.classes.iter().enumerate() {
        close(
            &format!("{what} IoU of {}", c.name),
            c.iou,
            theirs["iou"][k].as_f64(),
            &mut worst,
        );
        close(
            &format!("{what} GT fraction of {}", c.name),
            c.gt_fraction,
            theirs["gt_fraction"][k].as_f64(),
            &mut worst,
        );
    }
    close(
        &format!("{what} mIoU"),
        ours.miou(),
        theirs["miou"].as_f64(),
        &mut worst,
    );
    close(
        &format!("{what} pixel accuracy"),
        ours.pixel_accuracy(),
        theirs["pixel_accuracy"].as_f64(),
        &mut worst,
    );
    let pf = theirs["per_frame"].as_array().unwrap();
    assert_eq!(ours.per_frame.len(), pf.len(), "{what}: frames");
    for ((f, m), t) in ours.per_frame.iter().zip(pf) {
        assert_eq!(Some(*f), t[0].as_u64(), "{what}: frame order");
        close(
            &format!("{what} frame {f} mIoU"),
            *m,
            t[1].as_f64(),
            &mut worst,
        );
    }
    // The JSON says the same as the report.
    let j = ours.to_json();
    assert_eq!(j["frames"].as_u64(), Some(ours.per_frame.len() as u64));
    assert_eq!(j["miou"].as_f64(), ours.miou());
    assert_eq!(j["pixel_accuracy"].as_f64(), ours.pixel_accuracy());
    for c in &ours.classes {
        assert_eq!(
            j["classes"][&c.name]["iou"].as_f64(),
            c.iou,
            "{what} JSON {}",
            c.name
        );
        assert_eq!(j["classes"][&c.name]["gt_fraction"].as_f64(), c.gt_fraction);
    }
    let jf = j["per_frame"].as_array().unwrap();
    assert_eq!(jf.len(), ours.per_frame.len());
    assert_eq!(jf[0][0].as_u64(), Some(ours.per_frame[0].0));
    worst
}

fn opts(head: Option<&str>) -> SegOptions {
    SegOptions {
        head: head.map(String::from),
        ..SegOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------

const NAMES: [&str; 6] = ["background", "road", "lane", "vehicle", "person", "ghost"];

#[test]
fn eval_seg_agrees_with_numpy_on_generated_road_scenes() {
    let dir = tempdir("eval-seg");
    let (gt_dir, pred_dir) = (dir.join("gt"), dir.join("pred"));
    std::fs::create_dir_all(&gt_dir).unwrap();
    std::fs::create_dir_all(&pred_dir).unwrap();
    let (w, h) = (96usize, 64usize);
    let pal = palette(6);
    let mut r = Rng(7);
    // Frames 0..=19 have both; 20 has only ground truth, 21 only a prediction. A second head
    // (`ll`) sits next to the evaluated one (`seg`).
    let mut pairs = vec![];
    for f in 0..22u64 {
        let s = scene(&mut r);
        let mut gt = draw(&s, w, h);
        let mut pred = draw(&perturb(&s, &mut r), w, h);
        noise(&mut pred, 0.03, &[0, 1, 2, 3, 5], &mut r);
        let gt_path = gt_dir.join(format!("{f:06}.png"));
        let pred_path = pred_dir.join(format!("cam-seg-{f:06}.png"));
        // Ground truth as 8-bit grayscale, except frame 3 (4-bit indexed, as Pillow writes a
        // small palette: no 255 fits, so nothing ignored) and 5 (8-bit indexed); frame 4 is
        // ignored whole. Predictions indexed, except frame 7 (grayscale) and 9 (4-bit indexed).
        match f {
            3 => write_png(&gt_path, w as u32, h as u32, &gt, Kind::Indexed(4, &pal)),
            _ => {
                if f == 4 {
                    gt.fill(255);
                } else {
                    mark_ignored(&mut gt, w, h, &mut r, f % 3 == 0);
                }
                let kind = if f == 5 {
                    Kind::Indexed(8, &pal)
                } else {
                    Kind::Gray
                };
                write_png(&gt_path, w as u32, h as u32, &gt, kind);
            }
        }
        let kind = match f {
            7 => Kind::Gray,
            9 => Kind::Indexed(4, &pal),
            _ => Kind::Indexed(8, &pal),
        };
        if f != 20 {
            write_png(&pred_path, w as u32, h as u32, &pred, kind);
            let lanes: Vec<u8> = pred.iter().map(|&c| u8::from(c == 2)).collect();
            let ll = pred_dir.join(format!("cam-ll-{f:06}.png"));
            write_png(&ll, w as u32, h as u32, &lanes, Kind::Indexed(1, &pal[..6]));
        }
        if f == 21 {
            std::fs::remove_file(&gt_path).unwrap();
        }
        if f < 20 {
            pairs.push((f, gt_path, pred_path));
        }
    }
    // Not class maps: skipped.
    std::fs::write(
        gt_dir.join("README.txt"),
        "labels of the generated scenes\n",
    )
    .unwrap();

    // Two heads and none chosen.
    let e = evaluate_dirs(&gt_dir, &pred_dir, &opts(None)).unwrap_err();
    assert!(matches!(e, SegError::Ambiguous { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("ll, seg") && msg.contains("--head"), "{msg}");
    let e = evaluate_dirs(&gt_dir, &pred_dir, &opts(Some("lanes"))).unwrap_err();
    assert!(e.to_string().contains("heads present: ll, seg"), "{e}");

    let ours = evaluate_dirs(&gt_dir, &pred_dir, &opts(Some("seg"))).unwrap();
    eprint!("{}", ours.table());
    assert_eq!(ours.frames(), 20);
    assert_eq!(ours.gt_without_prediction, [20]);
    assert_eq!(ours.predictions_without_gt, [21]);
    assert_eq!(
        (ours.gt_series.as_str(), ours.pred_series.as_str()),
        ("#", "cam-seg-#")
    );
    let theirs = reference(Some(255), None, &pairs);
    let mut worst = compare("generated", &ours, &theirs);
    // Class 4 is never drawn: no IoU, left out of the mIoU. Class 5 is only predicted: IoU 0.
    assert_eq!(ours.classes.len(), 6);
    assert_eq!(ours.classes[4].iou, None);
    assert_eq!(ours.classes[5].iou, Some(0.0));
    assert_eq!(ours.classes[5].gt_pixels, 0);
    let defined: Vec<f64> = ours.classes.iter().filter_map(|c| c.iou).collect();
    assert_eq!(defined.len(), 5);
    let m = ours.miou().unwrap();
    assert!(
        (0.3..0.95).contains(&m),
        "a perturbed copy scores in between: {m}"
    );
    // The fully ignored frame has no mIoU of its own; it sorts last among the worst frames.
    assert_eq!(ours.per_frame[4], (4, None));
    assert_eq!(ours.worst_frames().last(), Some(&(4, None)));
    let j = ours.to_json();
    assert_eq!(j["gt_without_prediction"], 1);
    assert_eq!(j["predictions_without_gt"], 1);
    assert!(j["classes"]["class 4"]["iou"].is_null());

    // Named classes, the stream given too: the same numbers under the names.
    let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let named = evaluate_dirs(
        &gt_dir,
        &pred_dir,
        &SegOptions {
            stream: Some("cam".into()),
            classes: Some(names.clone()),
            ..opts(Some("seg"))
        },
    )
    .unwrap();
    assert_eq!(named.miou(), ours.miou());
    assert_eq!(named.to_json()["classes"]["person"]["iou"], Value::Null);
    assert_eq!(named.to_json()["classes"]["ghost"]["iou"], 0.0);
    // A classes file (one name a line) reads the same.
    std::fs::write(dir.join("classes.txt"), NAMES.join("\n") + "\n\n").unwrap();
    assert_eq!(
        seg::read_class_names(&dir.join("classes.txt")).unwrap(),
        names
    );
    // Fewer names than the indices found: the error names the file holding the first index
    // beyond them.
    let e = evaluate_dirs(
        &gt_dir,
        &pred_dir,
        &SegOptions {
            classes: Some(names[..4].to_vec()),
            ..opts(Some("seg"))
        },
    )
    .unwrap_err();
    assert!(
        matches!(e, SegError::ClassOutOfRange { value: 5, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("cam-seg-000000.png"), "{e}");

    // No ignore index: 255 is a class like the others (256 classes), against NumPy again.
    let all = evaluate_dirs(
        &gt_dir,
        &pred_dir,
        &SegOptions {
            ignore: None,
            ..opts(Some("seg"))
        },
    )
    .unwrap();
    assert_eq!((all.classes.len(), all.confusion.ignored()), (256, 0));
    worst = worst.max(compare("no ignore", &all, &reference(None, None, &pairs)));

    // The 1-bit `ll` head, its ground truth from the same pictures.
    let ll = evaluate_dirs(&pred_dir, &pred_dir, &opts(Some("ll"))).unwrap();
    assert_eq!((ll.miou(), ll.frames()), (Some(1.0), 21));
    eprintln!("max |perceptd - NumPy| = {worst:e} (tolerance {TOL:e})");
}

#[test]
fn eval_seg_scores_the_masks_perceptd_writes() {
    init_ort();
    let dir = tempdir("eval-seg-e2e");
    let fcn_classes = ["background", "road", "lane", "vehicle", "person"];
    let yaml = format!(
        "name: evalseg\nruntime: {{metrics_addr: 'off'}}\n\
         sources: {{still: {{type: image, path: '${{PERCEPTD_ASSETS}}/whiteCarLaneSwitch.jpg', repeat: 4}}}}\n\
         models:\n  \
         lanes: {{path: '${{PERCEPTD_ASSETS}}/twinlitenet_bdd100k_360x640.onnx', format: segmentation, heads: [{{output: da, classes: [background, drivable]}}, {{output: ll, classes: [background, lane]}}]}}\n  \
         fcn: {{path: '{fcn}', format: segmentation, heads: [{{output: out, classes: [{c}]}}]}}\n\
         stages: [{{type: segment, model: lanes}}, {{type: segment, model: fcn}}]\n\
         sinks: [{{type: mask, path: {d}/masks, every: 2}}]\n",
        fcn = fixtures().join("fcn_tiny.onnx").display(),
        c = fcn_classes.join(", "),
        d = dir.display()
    );
    let report = run_yaml(&yaml, &dir, Default::default());
    assert_eq!(report.frames, 4);
    let masks = dir.join("masks");

    // Three heads in one folder: the error lists them.
    let e = evaluate_dirs(&masks, &masks, &opts(None)).unwrap_err();
    assert!(e.to_string().contains("several heads (da, ll, out)"), "{e}");

    let heads: [(&str, Vec<&str>); 3] = [
        ("da", vec!["background", "drivable"]),
        ("ll", vec!["background", "lane"]),
        ("out", fcn_classes.to_vec()),
    ];
    let mut worst = 0f64;
    for (head, names) in &heads {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let o = SegOptions {
            classes: Some(names.clone()),
            ..opts(Some(head))
        };
        // The masks against themselves: every class present scores exactly 1.
        let same = evaluate_dirs(&masks, &masks, &o).unwrap();
        assert_eq!(same.frames(), 2, "{head}: frames 0 and 2 (every: 2)");
        assert_eq!(same.miou(), Some(1.0), "{head}");
        assert_eq!(same.pixel_accuracy(), Some(1.0), "{head}");
        assert_eq!(same.confusion.pixels(), 2 * 960 * 540);
        for c in &same.classes {
            let want = (c.gt_pixels > 0).then_some(1.0);
            assert_eq!(c.iou, want, "{head} {}", c.name);
        }
        assert!(same.per_frame.iter().all(|(_, m)| *m == Some(1.0)));

        // Against a perturbed copy as ground truth, 8-bit grayscale, for frames 0..=3 (1 and 3
        // have no mask): shifted, noisy, hood rows and scattered pixels ignored.
        let mut r = Rng(11 + names.len() as u64);
        let gt_dir = dir.join(format!("gt-{head}"));
        std::fs::create_dir_all(&gt_dir).unwrap();
        let mut pairs = vec![];
        for f in 0..4u64 {
            let src = masks.join(format!("still-{head}-{:06}.png", f / 2 * 2));
            let m = read_class_map(&src).unwrap();
            let (w, h) = (m.width as usize, m.height as usize);
            let (dx, dy) = (1 + f as usize, 2usize);
            let mut gt = vec![0u8; w * h];
            for y in 0..h {
                for x in 0..w {
                    gt[y * w + x] = m.pixels[y.saturating_sub(dy) * w + x.saturating_sub(dx)];
                }
            }
            let all: Vec<u8> = (0..names.len() as u8).collect();
            noise(&mut gt, 0.02, &all, &mut r);
            mark_ignored(&mut gt, w, h, &mut r, true);
            let path = gt_dir.join(format!("{f:06}.png"));
            write_png(&path, w as u32, h as u32, &gt, Kind::Gray);
            if f % 2 == 0 {
                pairs.push((f, path, src));
            }
        }
        let ours = evaluate_dirs(&gt_dir, &masks, &o).unwrap();
        eprintln!("head {head}:\n{}", ours.table());
        assert_eq!(ours.gt_without_prediction, [1, 3]);
        assert!(ours.predictions_without_gt.is_empty());
        let theirs = reference(Some(255), Some(names.len()), &pairs);
        worst = worst.max(compare(head, &ours, &theirs));
        assert!(ours.miou().unwrap() < 1.0);
    }
    eprintln!("max |perceptd - NumPy| = {worst:e} (tolerance {TOL:e})");
}

#[test]
fn eval_seg_rejects_bad_input_with_clear_errors() {
    let dir = tempdir("eval-seg-bad");
    let pal = palette(4);
    let folder = |name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let map = |w: usize, h: usize| -> Vec<u8> { (0..w * h).map(|i| (i % 3) as u8).collect() };
    let eval = |gt: &Path, pred: &Path| evaluate_dirs(gt, pred, &SegOptions::default());

    // Size mismatch: both files and both sizes are named.
    let (gt, pred) = (folder("size-gt"), folder("size-pred"));
    write_png(&gt.join("000001.png"), 96, 64, &map(96, 64), Kind::Gray);
    write_png(
        &pred.join("s-h-000001.png"),
        80,
        64,
        &map(80, 64),
        Kind::Indexed(8, &pal),
    );
    let e = eval(&gt, &pred).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, SegError::SizeMismatch { frame: 1, .. }),
        "{msg}"
    );
    for part in ["000001.png", "s-h-000001.png", "96x64", "80x64", "nearest"] {
        assert!(msg.contains(part), "`{part}` in: {msg}");
    }

    // No frame in common: both ranges and the rule are named.
    let (gt, pred) = (folder("disjoint-gt"), folder("disjoint-pred"));
    for f in 100..103 {
        write_png(
            &gt.join(format!("frame_{f}.png")),
            8,
            8,
            &map(8, 8),
            Kind::Gray,
        );
    }
    for f in 0..3 {
        write_png(
            &pred.join(format!("s-h-{f:06}.png")),
            8,
            8,
            &map(8, 8),
            Kind::Indexed(2, &pal),
        );
    }
    let e = eval(&gt, &pred).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SegError::NoCommonFrames { .. }), "{msg}");
    for part in [
        "100..102 (3 files frame_#)",
        "0..2 (3 files s-h-#)",
        "last run of digits",
    ] {
        assert!(msg.contains(part), "`{part}` in: {msg}");
    }

    // A file named .png that is not one.
    let (gt, pred) = (folder("junk-gt"), folder("junk-pred"));
    std::fs::write(gt.join("000000.png"), "not an image\n").unwrap();
    write_png(
        &pred.join("s-h-000000.png"),
        8,
        8,
        &map(8, 8),
        Kind::Indexed(8, &pal),
    );
    let e = eval(&gt, &pred).unwrap_err();
    assert!(matches!(e, SegError::Decode { .. }), "{e}");
    assert!(
        e.to_string().contains("000000.png: not a readable PNG"),
        "{e}"
    );

    // A colour-coded mask.
    let rgb = folder("rgb");
    write_png(&rgb.join("000000.png"), 8, 8, &[7; 8 * 8 * 3], Kind::Rgb);
    let e = eval(&rgb, &pred).unwrap_err();
    assert!(matches!(e, SegError::Format { .. }), "{e}");
    assert!(e.to_string().contains("converted to class indices"), "{e}");

    // JPEG masks only.
    let jpg = folder("jpg");
    std::fs::write(jpg.join("000000.jpg"), [0xff, 0xd8, 0xff]).unwrap();
    let e = eval(&jpg, &pred).unwrap_err();
    assert!(matches!(e, SegError::NoPngs { others: 1, .. }), "{e}");
    assert!(e.to_string().contains("lossless PNGs"), "{e}");

    // A name without a frame number; two files of one frame.
    let nameless = folder("nameless");
    write_png(&nameless.join("labels.png"), 8, 8, &map(8, 8), Kind::Gray);
    let e = eval(&nameless, &pred).unwrap_err();
    assert!(matches!(e, SegError::NoFrameNumber { .. }), "{e}");
    let dup = folder("dup");
    write_png(&dup.join("000000.png"), 8, 8, &map(8, 8), Kind::Gray);
    write_png(&dup.join("0.png"), 8, 8, &map(8, 8), Kind::Gray);
    let e = eval(&dup, &pred).unwrap_err();
    assert!(
        matches!(e, SegError::DuplicateFrame { frame: 0, .. }),
        "{e}"
    );

    // Binary masks with 255 for the foreground: evaluated (255 ignored), with a warning.
    let (gt, pred) = (folder("binary-gt"), folder("binary-pred"));
    let fg: Vec<u8> = (0..64).map(|i| if i % 8 < 3 { 255 } else { 0 }).collect();
    write_png(&gt.join("000000.png"), 8, 8, &fg, Kind::Gray);
    let ones: Vec<u8> = fg.iter().map(|&v| u8::from(v == 255)).collect();
    write_png(
        &pred.join("s-h-000000.png"),
        8,
        8,
        &ones,
        Kind::Indexed(1, &pal[..6]),
    );
    let rep = eval(&gt, &pred).unwrap();
    assert_eq!(rep.confusion.ignored(), 24);
    assert!(
        rep.warnings[0].contains("binary masks"),
        "{:?}",
        rep.warnings
    );
    assert!(rep.table().contains("warning: "));
    let rep = evaluate_dirs(
        &gt,
        &pred,
        &SegOptions {
            ignore: None,
            ..SegOptions::default()
        },
    )
    .unwrap();
    assert!(rep.warnings.is_empty());
    assert_eq!(rep.classes[255].iou, Some(0.0));

    // Missing folders, a file given as a folder, an unknown stream, bad class lists.
    let e = eval(&dir.join("nope"), &pred).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("--gt {}: no such folder", dir.join("nope").display())
    );
    let e = eval(&gt, &pred.join("s-h-000000.png")).unwrap_err();
    assert!(
        matches!(e, SegError::NotAFolder { flag: "--pred", .. }),
        "{e}"
    );
    let e = evaluate_dirs(
        &dup,
        &pred,
        &SegOptions {
            stream: Some("t".into()),
            ..SegOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("no masks of stream `t`; streams present: s"),
        "{e}"
    );
    for (list, why) in [(vec![], "empty"), (vec!["a", "b", "a"], "classes 0 and 2")] {
        let e = evaluate_dirs(
            &dup,
            &pred,
            &SegOptions {
                classes: Some(list.iter().map(|s| s.to_string()).collect()),
                ..SegOptions::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
}

/// The counting loop (8-pixel runs plus a pixel-by-pixel rest) against a plain count: odd
/// lengths, long runs, noise, every ignore setting, accumulated over calls.
#[test]
fn eval_seg_add_frame_counts_every_pixel_once() {
    let mut r = Rng(5);
    let mut c = Confusion::new();
    let mut naive = vec![0u64; 256 * 256];
    let mut ignored = 0u64;
    for (k, len) in [0usize, 1, 7, 8, 9, 63, 1000, 4097, 96 * 64 + 5]
        .into_iter()
        .enumerate()
    {
        let ignore = [Some(255), None, Some(0), Some(3)][k % 4];
        let (mut gt, mut pred) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let (mut g, mut p) = (0u8, 0u8);
        for _ in 0..len {
            if r.chance(0.02) {
                g = [0, 1, 2, 3, 255][r.below(5) as usize];
            }
            if r.chance(0.03) {
                p = r.below(6) as u8;
            }
            gt.push(g);
            pred.push(if r.chance(0.05) {
                r.below(256) as u8
            } else {
                p
            });
        }
        add_frame(&mut c, &gt, &pred, ignore);
        for (&g, &p) in gt.iter().zip(&pred) {
            if Some(g) == ignore {
                ignored += 1;
            } else {
                naive[usize::from(g) * 256 + usize::from(p)] += 1;
            }
        }
        for g in 0..256 {
            for p in 0..256 {
                assert_eq!(
                    c.count(g as u8, p as u8),
                    naive[g * 256 + p],
                    "len {len}: [{g}][{p}]"
                );
            }
        }
        assert_eq!(c.ignored(), ignored);
        assert_eq!(c.pixels(), naive.iter().sum::<u64>());
    }
}
