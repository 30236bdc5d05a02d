//! Bad input gets a clear error with the key, the line and the fix; exit code 2 or 1; no panic.

use crate::common::*;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &Output, code: i32) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr:\n{err}");
    assert!(!err.contains("panicked"), "no panic:\n{err}");
    err
}

/// Writes `text` to `file` and runs `perceptd check --offline` on it.
fn check(file: &std::path::Path, text: &str) -> Output {
    std::fs::write(file, text).unwrap();
    perceptd()
        .args(["check", "--offline"])
        .arg(file)
        .output()
        .unwrap()
}

/// Each `(key, what)` is on one line of `err`.
fn assert_reported(err: &str, expect: &[(&str, &str)]) {
    for (key, what) in expect {
        assert!(
            err.lines().any(|l| l.contains(key) && l.contains(what)),
            "expected `{key}` with `{what}` in:\n{err}"
        );
    }
}

const BAD: &str = "\
name: bad
sources:
  drive:
    type: file
    path: /nonexistent/drive.mp4
models:
  det:
    path: ${PERCEPTD_ASSETS}/FastestDet.onnx
    format: fastestdet
    colour: red
    threads: many
  other:
    path: ${PERCEPTD_ASSETS}/FastestDet.onnx
    format: yolo_nas
  missing:
    path: nowhere/model.onnx
    format: yolov8
stages:
  - type: detect
    model: det
sinks:
  - type: jsonl
    path: ${PERCEPTD_SURELY_UNSET_VAR}/out.jsonl
";

#[test]
fn check_reports_every_error_with_key_and_line() {
    let dir = tempdir("bad-config");
    let file = dir.join("bad.yaml");
    let err = assert_clean_failure(&check(&file, BAD), 2);
    let expect = [
        ("line 5: sources.drive.path", "cannot read"),
        ("line 10: models.det.colour", "unknown field `colour`"),
        ("line 11: models.det.threads", "invalid type"),
        ("line 14: models.other.format", "unknown variant `yolo_nas`"),
        ("line 16: models.missing.path", "not found"),
        (
            "line 23: sinks[0].path",
            "PERCEPTD_SURELY_UNSET_VAR is not set",
        ),
    ];
    assert_reported(&err, &expect);
    assert!(
        err.contains("6 errors"),
        "all six at once, the unset variable's path not reported twice:\n{err}"
    );
}

#[test]
fn run_rejects_a_bad_file_with_exit_code_2() {
    let dir = tempdir("bad-run");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "name: x\nsources: {cam: {type: test}}\nsurprise: 1\n",
    )
    .unwrap();
    let o = perceptd().arg("run").arg(&file).output().unwrap();
    let err = assert_clean_failure(&o, 2);
    assert!(
        err.contains("line 3: surprise") && err.contains("unknown key"),
        "{err}"
    );
}

fn fastestdet_pipeline(
    dir: &std::path::Path,
    extra_model_keys: &str,
    format: &str,
) -> std::path::PathBuf {
    let file = dir.join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "name: e\nruntime: {{metrics_addr: 'off'}}\nsources: {{cam: {{type: test, num_frames: 5, width: 320, height: 240}}}}\n\
             models:\n  det:\n    path: ${{PERCEPTD_ASSETS}}/FastestDet.onnx\n    format: {format}\n{extra_model_keys}\
             stages: [{{type: detect, model: det}}]\nsinks: [{{type: jsonl, path: {}/o.jsonl}}]\n",
            dir.display()
        ),
    )
    .unwrap();
    file
}

#[test]
fn missing_onnxruntime_library_is_a_clear_error() {
    let dir = tempdir("no-ort");
    let file = fastestdet_pipeline(&dir, "", "fastestdet");
    for cmd in ["run", "check"] {
        let o = perceptd()
            .arg(cmd)
            .arg(&file)
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
            .output()
            .unwrap();
        let err = assert_clean_failure(&o, 2);
        assert!(
            err.contains("/nonexistent/libonnxruntime.so") && err.contains("ORT_DYLIB_PATH"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("setup command"),
            "says how to install it: {err}"
        );
    }
}

#[test]
fn a_library_that_is_not_onnxruntime_is_a_clear_error() {
    let dir = tempdir("wrong-ort");
    let file = fastestdet_pipeline(&dir, "", "fastestdet");
    // A real shared library without the ONNX Runtime API.
    let libc = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("zlib is installed");
    let o = perceptd()
        .arg("run")
        .arg(&file)
        .env("ORT_DYLIB_PATH", libc)
        .output()
        .unwrap();
    let err = assert_clean_failure(&o, 2);
    assert!(err.contains("OrtGetApiBase") && err.contains(libc), "{err}");
}

#[test]
fn a_model_of_the_wrong_layout_shows_the_shapes() {
    let dir = tempdir("wrong-layout");
    let file = fastestdet_pipeline(&dir, "", "yolov8");
    for cmd in ["run", "check"] {
        let o = perceptd().arg(cmd).arg(&file).output().unwrap();
        let err = assert_clean_failure(&o, 2);
        assert!(
            err.contains("[1, 85, 22, 22]") && err.contains("format"),
            "{cmd}: {err}"
        );
    }
    let o = perceptd().arg("check").arg(&file).output().unwrap();
    assert!(
        stderr(&o).contains("models.det.format"),
        "check names the key: {}",
        stderr(&o)
    );
}

#[test]
fn keep_classes_must_name_real_classes() {
    let dir = tempdir("keep");
    let file = fastestdet_pipeline(
        &dir,
        "    classes: ${PERCEPTD_ASSETS}/coco.names\n    keep_classes: [car, unicorn]\n",
        "fastestdet",
    );
    let o = perceptd().arg("check").arg(&file).output().unwrap();
    let err = assert_clean_failure(&o, 2);
    assert!(
        err.contains("models.det.keep_classes") && err.contains("unicorn"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_video_fails_at_runtime_with_the_element() {
    let dir = tempdir("not-video");
    let fake = dir.join("fake.mp4");
    std::fs::write(&fake, b"this is not a video").unwrap();
    let file = dir.join("p.yaml");
    std::fs::write(&file, format!("name: nv\nruntime: {{metrics_addr: 'off'}}\nsources: {{cam: {{type: file, path: {}}}}}\nsinks: [{{type: jsonl, path: {}/o.jsonl}}]\n", fake.display(), dir.display())).unwrap();
    let o = perceptd().arg("check").arg(&file).output().unwrap();
    let err = assert_clean_failure(&o, 2);
    assert!(
        err.contains("sources.cam") && err.contains("source cam"),
        "{err}"
    );
    let o = perceptd().arg("run").arg(&file).output().unwrap();
    let err = assert_clean_failure(&o, 1);
    assert!(err.contains("source cam"), "{err}");
}

#[test]
fn models_inspect_guesses_layouts() {
    let out = stdout_of(
        perceptd()
            .args(["models", "inspect"])
            .arg(assets().join("FastestDet.onnx")),
    );
    assert!(
        out.contains("format: fastestdet") && out.contains("[1, 85, 22, 22]"),
        "{out}"
    );
    for f in ["yolov8_tiny.onnx", "yolov8_tiny_t.onnx"] {
        let o = perceptd()
            .args(["models", "inspect"])
            .arg(fixtures().join(f))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("format: yolov8") && out.contains("task=detect"),
            "{f}: {out}"
        );
        assert!(
            out.contains("classes: 3 from metadata (car, person, truck)"),
            "{f}: {out}"
        );
    }
    for (f, format) in [
        ("yolov5_tiny.onnx", "format: yolov5"),
        ("yolo_e2e_tiny.onnx", "format: yolo_end2end"),
        ("yolox_tiny.onnx", "format: yolox"),
        ("yolox_tiny.onnx", "boxes: grid offsets"),
        ("yolox_tiny_decoded.onnx", "boxes: decoded in the graph"),
        ("faster_rcnn_tiny.onnx", "format: faster_rcnn"),
        ("fcn_tiny.onnx", "format: segmentation"),
        ("fcn_tiny_argmax.onnx", "format: segmentation"),
        ("yolov8_seg_tiny.onnx", "format: yolov8"),
        ("yolov8_seg_tiny.onnx", "32 mask prototypes"),
    ] {
        let o = perceptd()
            .args(["models", "inspect"])
            .arg(fixtures().join(f))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(format), "{f}: {out}");
    }
    let o = perceptd()
        .args(["models", "inspect"])
        .arg(assets().join("twinlitenet_bdd100k_360x640.onnx"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("format: segmentation") && out.contains("da [1, 2, 360, 640]"),
        "{out}"
    );
    // A classifier fits no layout: the shapes and the keys to set are named.
    let o = perceptd()
        .args(["models", "inspect"])
        .arg(fixtures().join("classifier_tiny.onnx"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("layout: unknown")
            && out.contains("[[1, 10]]")
            && out.contains("set `format`"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let o = perceptd().arg("frobnicate").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    for sub in [&["run"][..], &["check"], &["bench"], &["models", "inspect"]] {
        let out = stdout_of(perceptd().args(sub).arg("--help"));
        assert!(out.contains("Example: perceptd"), "{sub:?} --help:\n{out}");
    }
}

const BAD_ADAS: &str = "\
name: bad-adas
sources:
  drive:
    type: file
    path: ${PERCEPTD_ASSETS}/solidWhiteRight.mp4
models:
  det:
    path: ${PERCEPTD_ASSETS}/FastestDet.onnx
    format: fastestdet
    classes: ${PERCEPTD_ASSETS}/coco.names
  lanes:
    path: ${PERCEPTD_ASSETS}/twinlitenet_bdd100k_360x640.onnx
    format: segmentation
    heads: [{output: ll, classes: [background, lane]}]
stages:
  - type: detect
    model: det
  - type: segment
    model: lanes
  - type: adas
    camera: {height_m: -1, hfov_deg: 60}
    lane_class: curb
    vehicles: [car, spaceship]
sinks:
  - type: jsonl
    path: out.jsonl
";

#[test]
fn an_adas_stage_without_tracker_or_with_unknown_classes_is_a_check_error_naming_the_key() {
    let dir = tempdir("bad-adas");
    let file = dir.join("bad.yaml");
    let err = assert_clean_failure(&check(&file, BAD_ADAS), 2);
    let expect = [
        ("stages[2]", "put a `type: track` stage before it"),
        (
            "stages[2].lane_class",
            "no segmentation head has a class `curb`",
        ),
        ("stages[2].lane_class", "ll [background, lane]"),
        (
            "stages[2].vehicles[1]",
            "no detector before it has the label `spaceship`",
        ),
        ("stages[2].camera.height_m", "-1"),
    ];
    assert_reported(&err, &expect);
    // Fixed, it passes, with a warning for each camera value left to its default.
    let good = BAD_ADAS
        .replace("  - type: adas\n", "  - type: track\n  - type: adas\n")
        .replace("height_m: -1, ", "")
        .replace("lane_class: curb", "lane_class: lane")
        .replace("[car, spaceship]", "[car, truck]");
    let o = check(&file, &good);
    let out = stderr(&o) + &String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("WARN") && l.contains("camera.height_m") && l.contains("1.35")),
        "the default mount height is a warning:\n{out}"
    );
    // An events sink needs an adas or analytics stage.
    let no_adas = good
        .replace("  - type: adas\n", "")
        .replace("    camera: {hfov_deg: 60}\n", "")
        .replace("    lane_class: lane\n", "")
        .replace("    vehicles: [car, truck]\n", "")
        + "  - type: events\n    path: events.jsonl\n";
    let err = assert_clean_failure(&check(&file, &no_adas), 2);
    assert_reported(
        &err,
        &[("sinks[1]", "add a `type: adas` or `type: analytics` stage")],
    );
}
