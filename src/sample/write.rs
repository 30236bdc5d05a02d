//! The files of a sample drive. In `OUT/`:
//!
//! ```text
//! <name>.mp4                 H.264, the rendered frames (with light changes and sensor noise)
//! gt/<name>.jsonl            boxes: {"frame":N,"width":W,"height":H,"objects":[{"label":"car",
//!                            "bbox":[x1,y1,x2,y2],"id":7,"visibility":0.853,"mask":{"size":[H,W],
//!                            "counts":"..."}}, ...]}, N from 0; mask: the pixels that show the
//!                            object, COCO compressed RLE (`eval det --iou-type segm`)
//! gt/<name>.txt              the same boxes, MOTChallenge: frame,id,x,y,w,h,1,class,visibility,
//!                            frame from 1, class = COCO category id (person 1, car 3, bus 6, truck 8)
//! gt/<name>/NNNNNN.png       class maps (8-bit indexed, pixel = class index), NNNNNN from 0
//! images/<name>/NNNNNN.png   with `images`: the frames as lossless 8-bit RGB PNGs
//! classes.txt labels.txt     class-map classes and detection labels, one a line, by index
//! sample.json README.txt     what was generated (one entry per drive name) and this layout
//! ```
//!
//! The layout fits `perceptd replay --gt OUT/gt`, which looks there for `<drive>.jsonl`,
//! `<drive>.txt` and `<drive>/` (and then needs a pipeline with `mask` and `mot` sinks; for
//! detection alone, `--gt OUT/gt/<drive>.jsonl`). `classes.txt` lies in `OUT/`, not in `gt/`,
//! where `perceptd eval mot --gt OUT/gt --pred DIR` would take it for a sequence. Boxes are whole pixels: the extent of what the object shows.
//! An object is left out of both box files in a frame where it shows less than 20 % of its
//! in-frame pixels or its box is under 4 pixels wide or high; its pixels stay in the class map.
//! Every text file is written with fixed formats, so one seed and one set of options give the
//! same files byte for byte (the MP4 too, see [`super::mp4`]).

use super::mp4::Mp4Writer;
use super::render::{GtObject, Renderer};
use super::scene::{SIM_HZ, Scene};
use super::world::Kind;
use super::{CLASS_NAMES, GENERATOR_VERSION, LABELS, PALETTE, SampleError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    pub seed: u64,
    pub out: PathBuf,
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The drive's name: its files are `<name>.mp4`, `gt/<name>.*`.
    pub name: String,
    /// Also write the frames as PNGs.
    pub images: bool,
    /// Write the MP4 (the command always does; tests of the ground truth alone may not).
    pub video: bool,
}

impl SampleOptions {
    /// The command's defaults: 1200 frames of 960x540 at 30 fps, named `drive`, with the video.
    pub fn new(seed: u64, out: impl Into<PathBuf>) -> SampleOptions {
        SampleOptions {
            seed,
            out: out.into(),
            frames: 1200,
            width: 960,
            height: 540,
            fps: 30,
            name: "drive".into(),
            images: false,
            video: true,
        }
    }

    /// Every problem with the options, in one error.
    pub fn check(&self) -> Result<(), SampleError> {
        let mut errors = vec![];
        if !(1..=100_000).contains(&self.frames) {
            errors.push(format!("--frames {}: give 1 to 100000 frames", self.frames));
        }
        for (flag, v) in [("--width", self.width), ("--height", self.height)] {
            if !(64..=4096).contains(&v) || v % 2 != 0 {
                errors.push(format!(
                    "{flag} {v}: give an even number from 64 to 4096 (the H.264 encoder takes 4:2:0 frames, whose sizes are even)"
                ));
            }
        }
        if !(1..=120).contains(&self.fps) {
            errors.push(format!(
                "--fps {}: give 1 to 120 frames per second",
                self.fps
            ));
        }
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && !self.name.starts_with(['.', '-'])
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok {
            errors.push(format!(
                "--name `{}`: use 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.` or `-` (it names files)",
                self.name
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SampleError::Options(errors.join("; ")))
        }
    }

    /// The world step of frame `i` (frame rates that divide [`SIM_HZ`] land exactly on one).
    fn step_of(&self, i: u64) -> u64 {
        (i * SIM_HZ + self.fps as u64 / 2) / self.fps as u64
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Summary {
    pub frames: u64,
    pub elapsed: Duration,
    /// Boxes in the ground truth, per label.
    pub boxes: BTreeMap<&'static str, u64>,
    /// Distinct ids in the ground truth, per label.
    pub ids: BTreeMap<&'static str, u64>,
    /// None without the video.
    pub video: Option<PathBuf>,
    pub det_gt: PathBuf,
    pub mot_gt: PathBuf,
    pub masks: PathBuf,
    pub images: Option<PathBuf>,
    /// The folder for `perceptd replay --gt`.
    pub gt_dir: PathBuf,
}

/// Generates the drive of `opts` (see the module doc for the files). `progress` is called with
/// the number of frames done after each frame.
pub fn generate(
    opts: &SampleOptions,
    mut progress: impl FnMut(u64),
) -> Result<Summary, SampleError> {
    opts.check()?;
    let start = Instant::now();
    let out = &opts.out;
    if out.exists() && !out.is_dir() {
        return Err(SampleError::Out {
            path: out.clone(),
            reason: "exists and is not a folder".into(),
        });
    }
    let gt_dir = out.join("gt");
    let masks = gt_dir.join(&opts.name);
    let images = opts.images.then(|| out.join("images").join(&opts.name));
    for dir in std::iter::once(&masks).chain(images.as_ref()) {
        std::fs::create_dir_all(dir).map_err(|e| SampleError::Out {
            path: out.clone(),
            reason: format!("cannot create {}: {e}", dir.display()),
        })?;
        remove_frames(dir)?;
    }
    let video_path = out.join(format!("{}.mp4", opts.name));
    let mut video = if opts.video {
        Some(Mp4Writer::create(
            &video_path,
            opts.width,
            opts.height,
            opts.fps,
        )?)
    } else {
        None
    };
    let (w, h) = (opts.width, opts.height);
    let mut scene = Scene::new(opts.seed, w, h);
    let mut renderer = Renderer::new(w, h, opts.seed);
    let mut jsonl = String::with_capacity(opts.frames as usize * 400);
    let mut mot = String::with_capacity(opts.frames as usize * 200);
    let mut rgb = vec![];
    let mut adas_lines = String::with_capacity(opts.frames as usize * 300);
    let mut speed = String::from("t_s,speed_mps\n");
    let mut truth = Vec::with_capacity(opts.frames as usize);
    let mut boxes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut ids: BTreeMap<&'static str, BTreeSet<u64>> = BTreeMap::new();
    for i in 0..opts.frames {
        scene.advance_to(opts.step_of(i));
        let t = i as f64 / opts.fps as f64;
        let mut a = scene.adas_truth();
        let objects = renderer
            .render(&scene.view(), i)
            .map_err(|source| SampleError::Render { frame: i, source })?;
        // A person hidden behind a vehicle is no pedestrian a camera can warn about: the path
        // holds the people the box truth holds (enough of them shows).
        let (seen, hidden) = std::mem::take(&mut a.vrus)
            .into_iter()
            .partition(|v| objects.iter().any(|o| o.id == v.0 && o.kept()));
        (a.vrus, a.hidden_vrus) = (seen, hidden);
        adas_lines.push_str(&super::adas::frame_line(i, t, &a));
        adas_lines.push('\n');
        speed.push_str(&format!("{t:.6},{:.4}\n", a.ego_speed_mps));
        truth.push((t, a));
        if let Some(v) = video.as_mut() {
            v.push(renderer.bgr())?;
        }
        let name = format!("{i:06}.png");
        write_png(&masks.join(&name), w, h, renderer.classes(), true)?;
        if let Some(dir) = &images {
            rgb.clear();
            rgb.extend(
                renderer
                    .bgr()
                    .chunks_exact(3)
                    .flat_map(|p| [p[2], p[1], p[0]]),
            );
            write_png(&dir.join(&name), w, h, &rgb, false)?;
        }
        let kept: Vec<&GtObject> = objects.iter().filter(|o| o.kept()).collect();
        let kept_ids: Vec<u64> = kept.iter().map(|o| o.id).collect();
        let runs = renderer.instance_runs(&kept_ids);
        frame_lines(&mut jsonl, &mut mot, i, w, h, &kept, &runs);
        for o in kept {
            *boxes.entry(o.kind.label()).or_default() += 1;
            ids.entry(o.kind.label()).or_default().insert(o.id);
        }
        progress(i + 1);
    }
    let video = match video {
        Some(v) => {
            v.finish()?;
            Some(video_path)
        }
        None => None,
    };
    let det_gt = gt_dir.join(format!("{}.jsonl", opts.name));
    let mot_gt = gt_dir.join(format!("{}.txt", opts.name));
    write_text(&det_gt, &jsonl)?;
    write_text(&mot_gt, &mot)?;
    let events: String = super::adas::events(&truth)
        .iter()
        .map(|e| super::adas::event_line(e) + "\n")
        .collect();
    write_text(
        &gt_dir.join(format!("{}.adas.jsonl", opts.name)),
        &adas_lines,
    )?;
    write_text(&gt_dir.join(format!("{}.events.jsonl", opts.name)), &events)?;
    write_text(&gt_dir.join(format!("{}.speed.csv", opts.name)), &speed)?;
    write_text(&out.join("classes.txt"), &lines(&CLASS_NAMES))?;
    write_text(&out.join("labels.txt"), &lines(&LABELS))?;
    write_text(&out.join("README.txt"), README)?;
    let ids: BTreeMap<&'static str, u64> =
        ids.into_iter().map(|(k, v)| (k, v.len() as u64)).collect();
    write_manifest(opts, &boxes, &ids)?;
    Ok(Summary {
        frames: opts.frames,
        elapsed: start.elapsed(),
        boxes,
        ids,
        video,
        det_gt,
        mot_gt,
        masks,
        images,
        gt_dir,
    })
}

/// The JSONL line and the MOTChallenge lines of frame `i`.
fn frame_lines(
    jsonl: &mut String,
    mot: &mut String,
    i: u64,
    w: u32,
    h: u32,
    objects: &[&GtObject],
    masks: &[Vec<u32>],
) {
    let _ = write!(
        jsonl,
        "{{\"frame\":{i},\"width\":{w},\"height\":{h},\"objects\":["
    );
    for (k, (o, runs)) in objects.iter().zip(masks).enumerate() {
        let [x1, y1, x2, y2] = o.bbox;
        // COCO's compressed RLE uses '0'..'o', of which only '\\' needs escaping in JSON.
        let counts = crate::frame::mask::rle_to_string(runs).replace('\\', "\\\\");
        let _ = write!(
            jsonl,
            "{}{{\"label\":\"{}\",\"bbox\":[{x1},{y1},{x2},{y2}],\"id\":{},\"visibility\":{:.3},\"mask\":{{\"size\":[{h},{w}],\"counts\":\"{counts}\"}}}}",
            if k == 0 { "" } else { "," },
            o.kind.label(),
            o.id,
            o.visibility
        );
        let _ = writeln!(
            mot,
            "{},{},{x1},{y1},{},{},1,{},{:.3}",
            i + 1,
            o.id,
            x2 - x1,
            y2 - y1,
            o.kind.mot_class(),
            o.visibility
        );
    }
    jsonl.push_str("]}\n");
}

fn lines(items: &[&str]) -> String {
    items.iter().map(|s| format!("{s}\n")).collect()
}

fn write_text(path: &Path, text: &str) -> Result<(), SampleError> {
    std::fs::write(path, text).map_err(|e| SampleError::io(path, "cannot write", e))
}

/// Removes the frame PNGs (`NNNNNN.png`) an earlier run left in `dir`, so that a shorter drive
/// does not inherit frames.
fn remove_frames(dir: &Path) -> Result<(), SampleError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SampleError::io(dir, "cannot list", e))?;
    for e in entries {
        let path = e
            .map_err(|e| SampleError::io(dir, "cannot list", e))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let frame = name
            .strip_suffix(".png")
            .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()));
        if frame {
            std::fs::remove_file(&path).map_err(|e| SampleError::io(&path, "cannot remove", e))?;
        }
    }
    Ok(())
}

/// An 8-bit PNG: indexed with the class palette (`indexed`), else RGB.
fn write_png(path: &Path, w: u32, h: u32, data: &[u8], indexed: bool) -> Result<(), SampleError> {
    let io = |e: &dyn std::fmt::Display| SampleError::io(path, "cannot write", e);
    let file = std::fs::File::create(path).map_err(|e| io(&e))?;
    let mut enc = png::Encoder::new(BufWriter::new(file), w, h);
    enc.set_depth(png::BitDepth::Eight);
    if indexed {
        enc.set_color(png::ColorType::Indexed);
        enc.set_palette(PALETTE.concat());
    } else {
        enc.set_color(png::ColorType::Rgb);
    }
    enc.set_compression(png::Compression::Fast);
    let mut wr = enc.write_header().map_err(|e| io(&e))?;
    wr.write_image_data(data).map_err(|e| io(&e))?;
    wr.finish().map_err(|e| io(&e))
}

/// `sample.json`: the generator, the classes and one entry per drive name, kept across runs
/// into the same folder (keys sorted, so the file depends only on what was generated).
fn write_manifest(
    opts: &SampleOptions,
    boxes: &BTreeMap<&'static str, u64>,
    ids: &BTreeMap<&'static str, u64>,
) -> Result<(), SampleError> {
    use serde_json::{Value, json};
    let path = opts.out.join("sample.json");
    let mut drives: BTreeMap<String, Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("drives").cloned())
        .and_then(|d| serde_json::from_value(d).ok())
        .unwrap_or_default();
    let n = &opts.name;
    drives.insert(
        n.clone(),
        json!({
            "seed": opts.seed,
            "frames": opts.frames,
            "width": opts.width,
            "height": opts.height,
            "fps": opts.fps,
            "video": opts.video.then(|| format!("{n}.mp4")),
            "detection": format!("gt/{n}.jsonl"),
            "mot": format!("gt/{n}.txt"),
            "masks": format!("gt/{n}/"),
            "images": opts.images.then(|| format!("images/{n}/")),
            "boxes": boxes,
            "ids": ids,
        }),
    );
    let mot_classes: BTreeMap<String, &str> = Kind::ALL
        .iter()
        .map(|k| (k.mot_class().to_string(), k.label()))
        .collect();
    let manifest = json!({
        "generator": "perceptd sample-drive",
        "version": GENERATOR_VERSION,
        "classes": CLASS_NAMES,
        "palette": PALETTE,
        "labels": LABELS,
        "mot_classes": mot_classes,
        "ignore": format!(
            "objects showing under {:.0} % of their in-frame pixels, or with a visible box under {} px wide or high, have no box (their pixels are in the class maps)",
            super::render::MIN_VISIBILITY * 100.0,
            super::render::MIN_SIDE
        ),
        "drives": drives,
    });
    let text = serde_json::to_string_pretty(&manifest).expect("JSON values serialise") + "\n";
    write_text(&path, &text)
}

const README: &str = "\
A sample drive generated by `perceptd sample-drive` (see sample.json for the seed, size, frame
count and generator version of each drive in this folder). The same seed and options give the
same files byte for byte.

<name>.mp4                 H.264 video of the drive
gt/<name>.jsonl            boxes per frame (frame from 0): {\"frame\":N,\"width\":W,\"height\":H,
                           \"objects\":[{\"label\":\"car\",\"bbox\":[x1,y1,x2,y2],\"id\":7,
                           \"visibility\":0.853,\"mask\":{\"size\":[H,W],\"counts\":\"...\"}}]};
                           labels car, truck, bus, person; mask: the pixels that show the
                           object (COCO compressed RLE, for eval det --iou-type segm)
gt/<name>.txt              the same boxes, MOTChallenge: frame,id,x,y,w,h,1,class,visibility
                           (frame from 1; class: person 1, car 3, bus 6, truck 8)
gt/<name>/NNNNNN.png       class maps, frame NNNNNN from 0: 8-bit indexed PNG, pixel = class
                           (0 background, 1 road, 2 lane, 3 vehicle, 4 person; classes.txt)
images/<name>/NNNNNN.png   with --images: the frames, lossless RGB
labels.txt                 the detection labels, by index

Boxes are the visible extent of an object in whole pixels (x2, y2 exclusive). An object showing
under 20 % of its in-frame pixels, or whose box is under 4 pixels wide or high, has no box in
that frame; its pixels are still in the class map. Ids persist while an object is in view.

Evaluate a pipeline on it (detection, class maps and tracks: the pipeline needs `mask` and
`mot` sinks; the class maps it writes must use the class indices above):
  perceptd replay PIPELINE --input <name>.mp4 --gt gt --out runs/a
Detection alone:
  perceptd replay PIPELINE --input <name>.mp4 --gt gt/<name>.jsonl --out runs/a
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_all_at_once() {
        let mut o = SampleOptions::new(1, "/tmp/x");
        assert!(o.check().is_ok());
        o.frames = 0;
        o.width = 961;
        o.name = "../up".into();
        let e = o.check().unwrap_err();
        assert!(e.is_usage());
        let text = e.to_string();
        for needle in ["--frames 0", "--width 961", "even", "--name `../up`"] {
            assert!(text.contains(needle), "{text}");
        }
    }

    #[test]
    fn frames_land_on_world_steps() {
        let mut o = SampleOptions::new(1, "/tmp/x");
        assert_eq!(o.step_of(3), 60);
        o.fps = 25;
        assert_eq!(o.step_of(1), 24);
        o.fps = 7;
        assert_eq!(o.step_of(1), 86);
    }

    #[test]
    fn mp4_times_are_zeroed() {
        // A tiny MP4 skeleton: moov { mvhd v0, trak { tkhd v1, mdia { mdhd v0 } } }.
        fn atom(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
            let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(body);
            v
        }
        let v0 = [[0u8, 0, 0, 0].as_slice(), &[9; 8], &[7; 4]].concat();
        let v1 = [[1u8, 0, 0, 0].as_slice(), &[9; 16], &[7; 4]].concat();
        let moov = atom(
            b"moov",
            &[
                atom(b"mvhd", &v0),
                atom(
                    b"trak",
                    &[atom(b"tkhd", &v1), atom(b"mdia", &atom(b"mdhd", &v0))].concat(),
                ),
            ]
            .concat(),
        );
        let file = [atom(b"ftyp", b"isom"), atom(b"mdat", &[5; 10]), moov].concat();
        let path =
            std::env::temp_dir().join(format!("perceptd-mp4-times-{}.mp4", std::process::id()));
        std::fs::write(&path, &file).unwrap();
        super::super::mp4::zero_times(&path).unwrap();
        let out = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(out.len(), file.len());
        assert_eq!(
            out.iter().filter(|&&b| b == 9).count(),
            0,
            "every time zeroed"
        );
        assert_eq!(
            out.iter().filter(|&&b| b == 7).count(),
            12,
            "nothing else touched"
        );
        assert_eq!(out.iter().filter(|&&b| b == 5).count(), 10);
    }
}
