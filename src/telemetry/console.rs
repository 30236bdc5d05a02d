//! The web console's HTTP side, on the metrics port: `/` (the page), `/api/streams` (each
//! stream's health from the metrics, with what the `console` sink saw), `/api/events?since=N`
//! (the recent events numbered N and later) and `/frame/<stream>.jpg` (the latest annotated
//! frame).

use super::Metrics;
use super::reply::Reply;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct StreamJson {
    stream: String,
    /// The source delivers frames (`perceptd_source_up`), or frames came in the last 5 s.
    up: bool,
    fps: Option<f64>,
    frames: u64,
    drops: u64,
    last_frame_age_s: Option<f64>,
    /// The frame number of the latest JPEG (`null`: none yet, or no `console` sink).
    frame_jpeg: Option<u64>,
    analytics: Option<serde_json::Value>,
}

fn json(v: &impl Serialize) -> Reply {
    Reply {
        status: 200,
        content_type: "application/json",
        body: serde_json::to_vec(v).expect("console JSON"),
    }
}

/// Per stream (or source) label: the sum of a family's samples.
fn by_label(
    families: &[prometheus::proto::MetricFamily],
    name: &str,
    label: &str,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for f in families.iter().filter(|f| f.name() == name) {
        for m in f.get_metric() {
            let Some(l) = m.get_label().iter().find(|l| l.name() == label) else {
                continue;
            };
            let v = if f.get_field_type() == prometheus::proto::MetricType::COUNTER {
                m.get_counter().get_value()
            } else {
                m.get_gauge().get_value()
            };
            *out.entry(l.value().to_string()).or_default() += v;
        }
    }
    out
}

fn streams(metrics: &Metrics) -> Reply {
    let fams = metrics.registry.gather();
    let up = by_label(&fams, "perceptd_source_up", "source");
    let drops = by_label(&fams, "perceptd_frames_dropped_total", "stream");
    let age = by_label(&fams, "perceptd_source_last_frame_age_seconds", "source");
    let views = metrics.console.streams();
    let mut names: Vec<String> = views.iter().map(|v| v.stream.to_string()).collect();
    for s in up.keys() {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    let list: Vec<StreamJson> = names
        .into_iter()
        .map(|s| {
            let v = views.iter().find(|v| *v.stream == *s);
            let seen_age = v
                .and_then(|v| v.last_frame)
                .map(|t| t.elapsed().as_secs_f64());
            StreamJson {
                up: up.get(&s).is_some_and(|u| *u > 0.0) || seen_age.is_some_and(|a| a < 5.0),
                fps: v.and_then(|v| v.fps),
                frames: v.map_or(0, |v| v.frames),
                drops: drops.get(&s).copied().unwrap_or(0.0) as u64,
                last_frame_age_s: seen_age.or_else(|| age.get(&s).copied()),
                frame_jpeg: v.filter(|v| v.jpeg.is_some()).map(|v| v.jpeg_frame),
                analytics: v.and_then(|v| v.analytics.clone()),
                stream: s,
            }
        })
        .collect();
    #[derive(Serialize)]
    struct All {
        pipeline: String,
        streams: Vec<StreamJson>,
    }
    json(&All {
        pipeline: metrics.console.pipeline(),
        streams: list,
    })
}

/// The console's routes; `None` for any other path.
pub fn route(metrics: &Metrics, path: &str, query: &str) -> Option<Reply> {
    match path {
        "/" | "/console" => Some(Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: crate::console::PAGE.as_bytes().to_vec(),
        }),
        "/api/streams" => Some(streams(metrics)),
        "/api/events" => {
            let since = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("since="))
                .map(|v| v.parse::<u64>())
                .transpose();
            let Ok(since) = since else {
                return Some(Reply::text(
                    400,
                    "since must be an event number (0 or more)\n",
                ));
            };
            #[derive(Serialize)]
            struct Events {
                events: Vec<crate::console::Numbered>,
            }
            Some(json(&Events {
                events: metrics.console.events_since(since),
            }))
        }
        _ => {
            let stream = path.strip_prefix("/frame/")?.strip_suffix(".jpg")?;
            Some(match metrics.console.jpeg(stream) {
                Some(j) => Reply {
                    status: 200,
                    content_type: "image/jpeg",
                    body: j.to_vec(),
                },
                None => Reply::text(
                    404,
                    format!("no frame of `{stream}` yet (a `type: console` sink makes them)\n"),
                ),
            })
        }
    }
}
