//! `models:`: each model's file, format, classes, input, providers and batching checked.

use super::super::diag::{Diagnostics, parse_component, resolve};
use super::super::raw::*;
use super::super::spec::*;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) fn models(
    v: Option<&Value>,
    base: &Path,
    diag: &mut Diagnostics,
) -> Option<BTreeMap<String, ModelSpec>> {
    let mut out = BTreeMap::new();
    let map = match v {
        None | Some(Value::Null) => return Some(out),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            diag.error("models", "must be a mapping of model name -> model");
            return None;
        }
    };
    let mut ok = true;
    for (k, v) in map {
        let name = super::super::lines::key_text(k);
        let key = format!("models.{name}");
        let Some(raw) = parse_component::<RawModel>(v, &key, diag) else {
            ok = false;
            continue;
        };
        match model(name, &key, raw, base, diag) {
            Some(m) => {
                out.insert(m.name.clone(), m);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn raw_has_trt_settings(t: &RawTensorrt) -> bool {
    t.fp16.is_some()
        || t.engine_cache.is_some()
        || t.workspace_mb.is_some()
        || t.min_batch.is_some()
        || t.opt_batch.is_some()
        || t.max_batch.is_some()
}

fn model(
    name: String,
    key: &str,
    raw: RawModel,
    base: &Path,
    diag: &mut Diagnostics,
) -> Option<ModelSpec> {
    let before = diag.errors.len();
    let path = resolve(base, &raw.path);
    if !path.is_file() {
        diag.error(format!("{key}.path"), format!("model file {} not found; check the path (relative paths start at the pipeline file's folder)", path.display()));
    }
    let classes = match raw.classes {
        None => None,
        Some(RawClasses::List(l)) => Some(l),
        Some(RawClasses::File(f)) => {
            let file = resolve(base, &f);
            match std::fs::read_to_string(&file) {
                Ok(t) => Some(
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect(),
                ),
                Err(e) => {
                    diag.error(format!("{key}.classes"), format!("cannot read class names from {}: {e}; give a file with one name a line, or a list", file.display()));
                    None
                }
            }
        }
    };
    if let Some(c) = &classes
        && c.is_empty()
    {
        diag.error(
            format!("{key}.classes"),
            "no class names; give at least one",
        );
    }
    for (field, v) in [
        ("score_threshold", raw.score_threshold),
        ("nms_iou", raw.nms_iou),
    ] {
        if let Some(x) = v
            && !(x > 0.0 && x <= 1.0)
        {
            diag.error(
                format!("{key}.{field}"),
                format!("{x} is out of range; use a value in (0, 1]"),
            );
        }
    }
    if let Some(t) = raw.mask_threshold
        && !(t > 0.0 && t < 1.0)
    {
        diag.error(
            format!("{key}.mask_threshold"),
            format!("{t} is out of range; use a probability in (0, 1), 0.5 by default"),
        );
    }
    if raw.threads == Some(0) {
        diag.error(
            format!("{key}.threads"),
            "must be at least 1, or left out to use every core",
        );
    }
    let providers = raw.providers.unwrap_or_else(|| vec![Provider::Cpu]);
    if providers.is_empty() {
        diag.error(
            format!("{key}.providers"),
            "empty; list execution providers in order, e.g. [cuda, cpu]",
        );
    }
    let i = raw.input;
    if let Some(std) = i.std
        && std.contains(&0.0)
    {
        diag.error(
            format!("{key}.input.std"),
            "a standard deviation of 0 divides by zero; use 1 for none",
        );
    }
    if i.width == Some(0) || i.height == Some(0) {
        diag.error(format!("{key}.input"), "width and height must be above 0");
    }
    if raw.decoded_in_graph.is_some() && raw.format != DetectFormat::Yolox {
        diag.error(
            format!("{key}.decoded_in_graph"),
            "applies to `format: yolox` only; remove it",
        );
    }
    if raw.format == DetectFormat::FasterRcnn && classes.is_none() {
        diag.error(
            format!("{key}.classes"),
            "faster_rcnn models carry no class names and their labels index a list that starts with the background (torchvision's COCO list has 91 entries, `__background__` first and `N/A` in the gaps); give that list, or a file with one name a line",
        );
    }
    let batch_size = raw.batch_size.unwrap_or(1);
    if !(1..=256).contains(&batch_size) {
        diag.error(
            format!("{key}.batch_size"),
            format!("{batch_size} is out of range; use 1 (no batching) to 256"),
        );
    }
    if raw.max_batch_wait_ms.is_some_and(|w| w > 10_000) {
        diag.error(
            format!("{key}.max_batch_wait_ms"),
            "above 10000 ms; a batch should wait milliseconds, not seconds",
        );
    }
    let rt = raw.tensorrt.unwrap_or_default();
    if raw_has_trt_settings(&rt) && !providers.contains(&Provider::Tensorrt) {
        diag.error(
            format!("{key}.tensorrt"),
            "TensorRT settings but `tensorrt` is not among the providers; add it (e.g. providers: [tensorrt, cuda, cpu]) or remove the section",
        );
    }
    let profile = match (rt.min_batch, rt.opt_batch, rt.max_batch) {
        (None, None, None) => None,
        (min, opt, max) => {
            let p = [
                min.unwrap_or(1),
                opt.unwrap_or(batch_size),
                max.unwrap_or(batch_size.max(opt.unwrap_or(1))),
            ];
            if !(p[0] >= 1 && p[0] <= p[1] && p[1] <= p[2] && p[2] >= batch_size) {
                diag.error(
                    format!("{key}.tensorrt"),
                    format!("min_batch {} <= opt_batch {} <= max_batch {} must hold, with max_batch at least batch_size {batch_size}", p[0], p[1], p[2]),
                );
            }
            Some(p)
        }
    };
    if rt.workspace_mb == Some(0) {
        diag.error(
            format!("{key}.tensorrt.workspace_mb"),
            "must be above 0, or left out for TensorRT's default",
        );
    }
    let tensorrt = TensorrtSpec {
        fp16: rt.fp16.unwrap_or(true),
        engine_cache: rt.engine_cache.as_deref().map(|p| resolve(base, p)),
        workspace_mb: rt.workspace_mb,
        profile,
    };
    let segmentation = raw.format == DetectFormat::Segmentation;
    if !segmentation && (raw.heads.is_some() || raw.upsample.is_some()) {
        diag.error(
            format!("{key}.heads"),
            "`heads` and `upsample` apply to `format: segmentation` only; remove them",
        );
    }
    let mut heads = None;
    if let Some(list) = raw.heads {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = vec![];
        for (i, h) in list.into_iter().enumerate() {
            let hk = format!("{key}.heads[{i}]");
            if !seen.insert(h.output.clone()) {
                diag.error(
                    format!("{hk}.output"),
                    format!("output `{}` is listed twice; list each head once", h.output),
                );
            }
            if let Some(a) = h.alpha
                && !(0.0..=1.0).contains(&a)
            {
                diag.error(
                    format!("{hk}.alpha"),
                    format!("{a} is out of range; use 0 (invisible) to 1 (opaque)"),
                );
            }
            if let (Some(c), Some(k)) = (&h.classes, &h.colors)
                && c.len() != k.len()
            {
                diag.error(
                    format!("{hk}.colors"),
                    format!(
                        "{} colours for {} classes; give one per class (null leaves a class unpainted)",
                        k.len(),
                        c.len()
                    ),
                );
            }
            out.push(HeadSpec {
                output: h.output,
                classes: h.classes,
                colors: h.colors,
                alpha: h.alpha,
            });
        }
        if out.is_empty() {
            diag.error(
                format!("{key}.heads"),
                "empty; list the outputs to read, or leave `heads` out to read every output",
            );
        }
        heads = Some(out);
    }
    if diag.errors.len() > before {
        return None;
    }
    Some(ModelSpec {
        name,
        path,
        format: raw.format,
        classes,
        input: InputOverrides {
            width: i.width,
            height: i.height,
            resize: i.resize,
            interpolation: i.interpolation,
            pad_value: i.pad_value,
            color: i.color,
            scale: i.scale,
            mean: i.mean,
            std: i.std,
        },
        score_threshold: raw.score_threshold,
        mask_threshold: raw.mask_threshold.unwrap_or(0.5),
        nms_iou: raw.nms_iou.unwrap_or(0.45),
        agnostic_nms: raw.agnostic_nms.unwrap_or(false),
        max_detections: raw.max_detections.unwrap_or(300),
        keep_classes: raw.keep_classes,
        providers,
        device_id: raw.device_id.unwrap_or(0),
        threads: raw.threads,
        decoded_in_graph: raw.decoded_in_graph,
        batch_size,
        max_batch_wait: std::time::Duration::from_millis(raw.max_batch_wait_ms.unwrap_or(5)),
        tensorrt,
        heads,
        upsample: raw.upsample.unwrap_or(Upsample::Bilinear),
    })
}
