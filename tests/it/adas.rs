//! Driver assistance on the real dash-cam clip: `pipelines/examples/adas-drive.yaml`
//! (FastestDet + TwinLiteNet's lane head + ByteTrack + adas) on `solidWhiteRight.mp4`, a calm
//! highway stretch (the ego car centred in its lane, nothing close ahead): the ego lane is found
//! on nearly every frame, nothing warns, and the metrics say so.

use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn the_real_clip_finds_its_lane_and_raises_no_warning_on_a_calm_drive() {
    let out = tempdir("adas-real");
    let addr = free_addr();
    let child = perceptd()
        .args(["run", "pipelines/examples/adas-drive.yaml"])
        .args(["--metrics-addr", &addr.to_string(), "--linger", "3"])
        .current_dir(repo())
        .env("PERCEPTD_OUT", &out)
        .env("PERCEPTD_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // After the last frame, while it lingers: the stage's metrics.
    let mut page = String::new();
    let jsonl = out.join("adas-drive.jsonl");
    wait_until(Duration::from_secs(300), || {
        let done = jsonl.is_file() && read_lines(&jsonl) >= 221;
        if done && let Some(p) = http_get(addr, "/metrics") {
            page = p;
        }
        !page.is_empty()
    });
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records = read_jsonl(&jsonl);
    assert_eq!(records.len(), 221);
    let lane = records
        .iter()
        .filter(|r| r["adas"]["lane"].is_object())
        .count() as f64
        / records.len() as f64;
    assert!(lane >= 0.9, "ego lane on {lane:.3} of the frames");
    // Centred in the lane: where the fit is sure enough for lane departure (confidence 0.4, the
    // default), the offset stays inside the departure threshold (0.8 m). The first frame's fit,
    // from one frame, is not that sure.
    let mut offsets: Vec<f64> = records
        .iter()
        .filter(|r| r["adas"]["lane"]["confidence"].as_f64() >= Some(0.4))
        .filter_map(|r| r["adas"]["lane"]["offset_m"].as_f64().map(f64::abs))
        .collect();
    assert!(offsets.len() >= 190, "{} sure lane frames", offsets.len());
    offsets.sort_by(f64::total_cmp);
    let (median, worst) = (offsets[offsets.len() / 2], offsets[offsets.len() - 1]);
    assert!(
        median < 0.3 && worst < 0.8,
        "|offset| median {median} m, largest {worst} m on a centred drive"
    );
    let active: Vec<_> = records
        .iter()
        .filter(|r| {
            r["adas"]["active"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .map(|r| r["frame"].clone())
        .collect();
    assert!(
        active.is_empty(),
        "warnings on a calm drive, frames {active:?}"
    );
    let events = std::fs::read_to_string(out.join("adas-drive.events.jsonl")).unwrap();
    assert!(events.trim().is_empty(), "no events: {events}");
    assert!(
        page.contains("perceptd_adas_lane_confidence"),
        "the lane-confidence gauge is exported"
    );
    let adas_frames = metric(&page, "perceptd_frames_total", &[("stage", "adas")]);
    assert_eq!(
        adas_frames,
        Some(221.0),
        "the adas stage counted every frame"
    );
}

fn read_lines(p: &std::path::Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
}
