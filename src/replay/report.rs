//! `report.html` of a replay or a diff: one self-contained file (inline SVG charts, thumbnails
//! as PNG data URIs, no scripts, no network) that any browser opens offline.

use super::svg::{self, escape};
use super::{DriveSummary, RunSummary, fmt_opt, seg_class_ious, switches_per_100};
use crate::config::{Pace, SourceKind, SourceMode, SourceSpec, SupportPriority};
use opencv::core::{Mat, Point, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Thumbnail width, pixels.
const THUMB_W: i32 = 360;

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.strip{display:flex;flex-wrap:wrap;gap:10px}\
figure{margin:0}figcaption{font-size:12px;color:#555;max-width:360px}.muted{color:#777}";

/// One box to draw: corners, caption, BGR colour.
pub struct DrawBox {
    pub bbox: [f32; 4],
    pub caption: String,
    pub colour: [f64; 3],
}

/// Standard base64 (RFC 4648) with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Per frame: `(label, score, corners)` of each detection.
pub type FrameBoxes = BTreeMap<u64, Vec<(String, f32, [f32; 4])>>;

/// Detections of the wanted frames of a perceptd JSONL file.
pub fn jsonl_boxes(path: &Path, frames: &BTreeSet<u64>) -> FrameBoxes {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(f) = v["frame"].as_u64() else {
            continue;
        };
        if !frames.contains(&f) {
            continue;
        }
        let boxes = v["detections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let b = d["bbox"].as_array()?;
                let b: Vec<f32> = b
                    .iter()
                    .filter_map(|x| x.as_f64().map(|x| x as f32))
                    .collect();
                (b.len() == 4).then(|| {
                    (
                        d["label"].as_str().unwrap_or("?").to_string(),
                        d["score"].as_f64().unwrap_or(0.0) as f32,
                        [b[0], b[1], b[2], b[3]],
                    )
                })
            })
            .collect();
        out.insert(f, boxes);
    }
    out
}

/// Decodes `drive`, and for each wanted frame draws its boxes and returns a PNG data URI of a
/// thumbnail. Frames the drive does not have are left out.
pub fn thumbnails(drive: &Path, wanted: &BTreeMap<u64, Vec<DrawBox>>) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    let Some(&last) = wanted.keys().next_back() else {
        return out;
    };
    let spec = SourceSpec {
        stream: "thumbs".into(),
        kind: SourceKind::File(drive.to_path_buf()),
        mode: SourceMode::Replay,
        reconnect: None,
        pace: Pace::Fast,
    };
    let Ok(mut src) = crate::source::Source::open(
        &spec,
        Arc::new(AtomicBool::new(false)),
        SupportPriority::Normal,
    ) else {
        return out;
    };
    while let Ok(Some(frame)) = src.next_frame() {
        if let Some(boxes) = wanted.get(&frame.seq) {
            let mut image = frame.image.to_vec();
            if let Ok(uri) = thumbnail(&mut image, frame.width as i32, frame.height as i32, boxes) {
                out.insert(frame.seq, uri);
            }
        }
        if frame.seq >= last {
            break;
        }
    }
    out
}

fn thumbnail(image: &mut [u8], w: i32, h: i32, boxes: &[DrawBox]) -> Result<String, opencv::Error> {
    // SAFETY: `image` is packed BGR w x h and outlives `mat`; nothing else touches it meanwhile.
    let mut mat = unsafe {
        Mat::new_rows_cols_with_data_unsafe(
            h,
            w,
            opencv::core::CV_8UC3,
            image.as_mut_ptr() as *mut std::ffi::c_void,
            (w * 3) as usize,
        )?
    };
    let thick = ((w.min(h) as f32 / 300.0).round() as i32).max(2);
    let scale = (w.min(h) as f64 / 700.0).max(0.5);
    for b in boxes {
        let [x1, y1, x2, y2] = b.bbox.map(|v| v.round() as i32);
        let colour = Scalar::new(b.colour[0], b.colour[1], b.colour[2], 0.0);
        imgproc::rectangle(
            &mut mat,
            Rect::new(x1, y1, (x2 - x1).max(1), (y2 - y1).max(1)),
            colour,
            thick,
            imgproc::LINE_8,
            0,
        )?;
        if !b.caption.is_empty() {
            imgproc::put_text(
                &mut mat,
                &b.caption,
                Point::new(x1 + 2, (y1 - 4).max(12)),
                imgproc::FONT_HERSHEY_SIMPLEX,
                scale,
                colour,
                2,
                imgproc::LINE_AA,
                false,
            )?;
        }
    }
    let th = (h as f64 * THUMB_W as f64 / w as f64).round().max(1.0) as i32;
    let mut small = Mat::default();
    imgproc::resize(
        &mat,
        &mut small,
        Size::new(THUMB_W, th),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )?;
    let bgr = small.data_bytes()?;
    let mut rgb = Vec::with_capacity(bgr.len());
    for px in bgr.chunks_exact(3) {
        rgb.extend_from_slice(&[px[2], px[1], px[0]]);
    }
    let mut png_bytes = vec![];
    {
        let mut enc = png::Encoder::new(&mut png_bytes, THUMB_W as u32, th as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc
            .write_header()
            .map_err(|e| opencv::Error::new(opencv::core::StsError, e.to_string()))?;
        wr.write_image_data(&rgb)
            .map_err(|e| opencv::Error::new(opencv::core::StsError, e.to_string()))?;
    }
    Ok(format!("data:image/png;base64,{}", base64(&png_bytes)))
}

/// A class's BGR colour for predictions in thumbnails.
pub fn colour_of(label: &str) -> [f64; 3] {
    let h = label
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    let c = crate::sink::annotate::class_color(h % 10);
    [c[0], c[1], c[2]]
}

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// Frames/s over time, per drive, from the progress samples (1 s windows).
pub fn fps_series(d: &DriveSummary) -> Vec<(f64, f64)> {
    let mut pts = vec![];
    let t = &d.timeline;
    let mut j = 0;
    for i in 0..t.len() {
        while j < i && t[i].0 - t[j].0 > 1.0 {
            j += 1;
        }
        if i > j {
            let dt = (t[i].0 - t[j].0) as f64;
            if dt >= 0.5 {
                pts.push((t[i].0 as f64, (t[i].1 - t[j].1) as f64 / dt));
            }
        }
    }
    pts
}

/// The stages' duration distributions for the latency chart: `(ms, share of frames)` at each
/// histogram bin's geometric centre, for the `LATENCY_STAGES` slowest stages (by mean), over
/// the bins any of them uses (one empty bin either side).
pub fn latency_series(d: &DriveSummary) -> Vec<(String, Vec<(f64, f64)>)> {
    let edges = super::hist_edges_ms();
    let mut stages: Vec<_> = d.stages.iter().collect();
    stages.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
    stages.truncate(LATENCY_STAGES);
    let used = |s: &&super::StageStats| s.histogram.iter().position(|&c| c > 0);
    let first = stages
        .iter()
        .filter_map(used)
        .min()
        .unwrap_or(0)
        .saturating_sub(1);
    let last = stages
        .iter()
        .filter_map(|s| s.histogram.iter().rposition(|&c| c > 0))
        .max()
        .map_or(0, |l| l + 1);
    stages
        .iter()
        .map(|s| {
            let total = s.histogram.iter().sum::<u64>().max(1) as f64;
            let pts = s
                .histogram
                .iter()
                .enumerate()
                .filter(|&(i, _)| (first..=last).contains(&i))
                .map(|(i, &c)| ((edges[i] * edges[i + 1]).sqrt(), c as f64 / total))
                .collect();
            (s.name.clone(), pts)
        })
        .collect()
}

/// Stages drawn in the latency chart (the slowest; every stage is in the table above it).
const LATENCY_STAGES: usize = 6;

fn drive_section(out: &mut String, d: &DriveSummary, run_dir: &Path) {
    let _ = write!(
        out,
        "<h2>{}</h2><p>{} frames in {:.2} s: <b>{:.2} frames/s</b>; latency p50 {:.1} ms, p99 {:.1} ms. <span class=\"muted\">{}</span></p>",
        escape(&d.drive),
        d.frames,
        d.elapsed_s,
        d.fps,
        d.latency_p50_ms,
        d.latency_p99_ms,
        escape(&d.input.display().to_string())
    );
    out.push_str("<table><tr><th>stage</th><th>frames</th><th>p50 ms</th><th>p99 ms</th><th>mean ms</th></tr>");
    for s in &d.stages {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            escape(&s.name),
            s.frames,
            s.p50_ms,
            s.p99_ms,
            s.mean_ms
        );
    }
    out.push_str("</table>");
    if !d.detections.is_empty() {
        out.push_str("<table><tr><th>class</th><th>detections</th></tr>");
        for (k, v) in &d.detections {
            let _ = write!(out, "<tr><td>{}</td><td>{v}</td></tr>", escape(k));
        }
        out.push_str("</table>");
    }
    out.push_str("<div class=\"charts\">");
    out.push_str(&svg::lines(
        "Frames/s over time",
        "seconds",
        "frames/s",
        &[(d.drive.clone(), fps_series(d))],
    ));
    out.push_str(&svg::lines_log_x(
        "Stage duration per frame (slowest stages)",
        "milliseconds (log scale)",
        "share of frames",
        &latency_series(d),
    ));
    if let Some(det) = d.eval.as_ref().and_then(|e| e.get("det")) {
        eval_det_charts(out, det);
    }
    if let Some(tl) = d.eval.as_ref().and_then(|e| e.get("adas_timeline")) {
        adas_charts(out, tl);
    }
    out.push_str("</div>");
    if let Some(e) = &d.eval {
        out.push_str("<table><tr><th>metric</th><th>value</th></tr>");
        if let Some(det) = e.get("det") {
            for (k, label) in [
                ("map50", "mAP@0.5"),
                ("map", "mAP@0.5:0.95"),
                ("map75", "mAP@0.75"),
                ("ar100", "AR@100"),
            ] {
                let _ = write!(
                    out,
                    "<tr><td>{label}</td><td>{}</td></tr>",
                    fmt_opt(&det[k])
                );
            }
        }
        if let Some(seg) = e.get("seg") {
            let _ = write!(
                out,
                "<tr><td>mIoU</td><td>{}</td></tr>",
                fmt_opt(&seg["miou"])
            );
            for (name, iou) in seg_class_ious(seg) {
                let _ = write!(out, "<tr><td>IoU {}</td><td>{iou}</td></tr>", escape(&name));
            }
        }
        if let Some(adas) = e.get("adas") {
            for (kind, label) in [
                ("forward_collision", "forward collision"),
                ("lane_departure", "lane departure"),
                ("pedestrian_in_path", "pedestrian in path"),
                ("headway", "headway"),
            ] {
                let w = &adas["warnings"][kind];
                if w["true_events"].as_u64().unwrap_or(0) + w["warnings"].as_u64().unwrap_or(0) > 0
                {
                    let _ = write!(
                        out,
                        "<tr><td>{label}: recall / precision</td><td>{} / {} ({} true, {} raised)</td></tr>",
                        fmt_opt(&w["recall"]),
                        fmt_opt(&w["precision"]),
                        w["true_events"],
                        w["warnings"]
                    );
                }
            }
            for (k, label) in [
                ("lane_found", "ego lane found"),
                ("offset_mae_m", "lateral offset MAE (m)"),
                ("lead_identified", "lead identified"),
                ("distance_median_rel_err", "lead distance median rel. error"),
                (
                    "ttc_median_rel_err",
                    "TTC median rel. error (true TTC < 4 s)",
                ),
            ] {
                let _ = write!(
                    out,
                    "<tr><td>{label}</td><td>{}</td></tr>",
                    fmt_opt(&adas[k])
                );
            }
        }
        if let Some(mot) = e.get("mot") {
            for (k, label) in [
                ("idf1", "IDF1"),
                ("mota", "MOTA"),
                ("num_switches", "ID switches"),
            ] {
                let _ = write!(
                    out,
                    "<tr><td>{label}</td><td>{}</td></tr>",
                    fmt_opt(&mot[k])
                );
            }
            let _ = write!(
                out,
                "<tr><td>ID switches per 100 tracks</td><td>{}</td></tr>",
                fmt_opt(&switches_per_100(mot))
            );
        }
        out.push_str("</table>");
    }
    // The worst frames, annotated.
    if !d.worst.is_empty() {
        let frames: BTreeSet<u64> = d.worst.iter().map(|w| w.frame).collect();
        let pred_path = run_dir.join(&d.drive).join(&d.jsonl);
        let preds = jsonl_boxes(&pred_path, &frames);
        // Ground truth in white under the predictions, so that misses show.
        let mut gt: BTreeMap<u64, Vec<DrawBox>> = BTreeMap::new();
        if let Some(l) = d
            .det_gt
            .as_ref()
            .and_then(|g| crate::eval::det::load_paths(g, &pred_path).ok())
        {
            for f in l.gt.iter().filter(|f| frames.contains(&f.key.frame)) {
                gt.entry(f.key.frame)
                    .or_default()
                    .extend(f.objects.iter().map(|o| {
                        let [x, y, w, h] = o.xywh.map(|v| v as f32);
                        DrawBox {
                            bbox: [x, y, x + w, y + h],
                            caption: String::new(),
                            colour: [255.0, 255.0, 255.0],
                        }
                    }));
            }
        }
        let wanted: BTreeMap<u64, Vec<DrawBox>> = frames
            .iter()
            .map(|f| {
                let mut boxes = gt.remove(f).unwrap_or_default();
                boxes.extend(
                    preds
                        .get(f)
                        .into_iter()
                        .flatten()
                        .map(|(label, score, bbox)| DrawBox {
                            bbox: *bbox,
                            caption: format!("{label} {score:.2}"),
                            colour: colour_of(label),
                        }),
                );
                (*f, boxes)
            })
            .collect();
        let thumbs = thumbnails(&d.input, &wanted);
        let key = if d.det_gt.is_some() {
            " (ground truth in white, predictions in their class colour)"
        } else {
            ""
        };
        let _ = write!(out, "<h3>Frames to look at{key}</h3><div class=\"strip\">");
        for w in &d.worst {
            match thumbs.get(&w.frame) {
                Some(uri) => {
                    let _ = write!(
                        out,
                        "<figure><img src=\"{uri}\" alt=\"frame {}\" width=\"{THUMB_W}\"><figcaption>frame {}: {}</figcaption></figure>",
                        w.frame,
                        w.frame,
                        escape(&w.why)
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<p>frame {}: {} (not decoded)</p>",
                        w.frame,
                        escape(&w.why)
                    );
                }
            }
        }
        out.push_str("</div>");
    }
}

/// Time to collision and lateral offset over the drive, true against measured, with the true
/// events shaded and the warnings raised as dashed lines.
fn adas_charts(out: &mut String, tl: &serde_json::Value) {
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let t: Vec<f64> = tl["t"].as_array().into_iter().flatten().map(num).collect();
    let series = |key: &str| -> Vec<(f64, f64)> {
        let v: Vec<f64> = tl[key].as_array().into_iter().flatten().map(num).collect();
        t.iter().copied().zip(v).collect()
    };
    let events = |kinds: &[&str]| -> Vec<(f64, f64)> {
        tl["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| kinds.contains(&e["kind"].as_str().unwrap_or("")))
            .map(|e| (num(&e["start_s"]), num(&e["end_s"])))
            .collect()
    };
    let raised = |kinds: &[&str]| -> Vec<f64> {
        tl["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|w| kinds.contains(&w["kind"].as_str().unwrap_or("")))
            .map(|w| num(&w["raised_s"]))
            .collect()
    };
    let fcw = ["forward_collision", "pedestrian_in_path", "headway"];
    out.push_str(&svg::lines_over(
        "Time to collision (shaded: true warnings; dashed: raised)",
        "seconds",
        "TTC, s (capped at 10)",
        &[
            ("truth".into(), series("ttc_true_s")),
            ("perceptd".into(), series("ttc_pred_s")),
        ],
        &events(&fcw),
        &raised(&fcw),
    ));
    let ldw = ["lane_departure"];
    out.push_str(&svg::lines_over(
        "Lateral offset (shaded: true lane departures; dashed: raised)",
        "seconds",
        "offset from lane centre, m",
        &[
            ("truth".into(), series("offset_true_m")),
            ("perceptd".into(), series("offset_pred_m")),
        ],
        &events(&ldw),
        &raised(&ldw),
    ));
}

fn eval_det_charts(out: &mut String, det: &serde_json::Value) {
    let Some(classes) = det["classes"].as_object() else {
        return;
    };
    let names: Vec<String> = classes.keys().cloned().collect();
    let ap50: Vec<Option<f64>> = classes.values().map(|c| c["ap50"].as_f64()).collect();
    let ap: Vec<Option<f64>> = classes.values().map(|c| c["ap"].as_f64()).collect();
    out.push_str(&svg::bars(
        "AP per class",
        "AP",
        &names,
        &[("AP@0.5".into(), ap50), ("AP@0.5:0.95".into(), ap)],
    ));
    let curves: Vec<(String, Vec<(f64, f64)>)> = classes
        .iter()
        .filter_map(|(name, c)| {
            let pr = c["pr50"].as_array()?;
            let n = pr.len().max(2) - 1;
            Some((
                name.clone(),
                pr.iter()
                    .enumerate()
                    .map(|(i, p)| (i as f64 / n as f64, p.as_f64().unwrap_or(0.0).max(0.0)))
                    .collect(),
            ))
        })
        .collect();
    if !curves.is_empty() {
        out.push_str(&svg::lines(
            "Precision-recall at IoU 0.5",
            "recall",
            "precision",
            &curves,
        ));
    }
}

/// The replay's report.
pub fn replay_html(run: &RunSummary, run_dir: &Path) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Replay: {}</h1><p>{} drive(s), {} frames in {:.2} s: <b>{:.2} frames/s</b>. perceptd {}, pipeline file {}.</p>",
        escape(&run.pipeline),
        run.drives.len(),
        run.frames,
        run.elapsed_s,
        run.fps,
        escape(&run.version),
        escape(&run.pipeline_file.display().to_string())
    );
    if run.drives.len() > 1 {
        let series: Vec<(String, Vec<(f64, f64)>)> = run
            .drives
            .iter()
            .map(|d| (d.drive.clone(), fps_series(d)))
            .collect();
        body.push_str(&svg::lines(
            "Frames/s over time, every drive",
            "seconds",
            "frames/s",
            &series,
        ));
    }
    for d in &run.drives {
        drive_section(&mut body, d, run_dir);
    }
    page(&format!("perceptd replay: {}", run.pipeline), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
