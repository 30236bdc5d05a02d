//! Sources: real GStreamer elements, frames as packed BGR with stride respected, ordered
//! sequence numbers and PTS.

use crate::common::*;
use perceptd::config::{SourceKind, SourceMode, SourceSpec};
use perceptd::source::Source;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn open(kind: SourceKind) -> Source {
    Source::open(
        &SourceSpec {
            reconnect: None,
            pace: perceptd::config::Pace::Fast,
            stream: "t".into(),
            kind,
            mode: SourceMode::Replay,
        },
        Arc::new(AtomicBool::new(false)),
        perceptd::config::SupportPriority::Normal,
    )
    .unwrap()
}

#[test]
fn test_pattern_frames_are_ordered_with_pts() {
    let mut src = open(SourceKind::Test {
        pattern: "smpte".into(),
        num_frames: Some(12),
        width: 64,
        height: 48,
        fps: 25,
    });
    let mut n = 0;
    while let Some(f) = src.next_frame().unwrap() {
        assert_eq!(f.seq, n);
        assert_eq!(f.pts_ns, Some(n * 40_000_000), "25 fps PTS");
        assert_eq!((f.width, f.height, f.image.len()), (64, 48, 64 * 48 * 3));
        assert_eq!(f.fps, Some((25, 1)));
        n += 1;
    }
    assert_eq!(n, 12);
}

#[test]
fn odd_widths_respect_the_stride() {
    // 322 x 3 = 966 bytes a row; GStreamer pads rows to 968. A copy that ignored the stride
    // would drag padding bytes into the image.
    let mut src = open(SourceKind::Test {
        pattern: "white".into(),
        num_frames: Some(2),
        width: 322,
        height: 11,
        fps: 10,
    });
    let f = src.next_frame().unwrap().unwrap();
    assert_eq!(f.image.len(), 322 * 11 * 3);
    assert!(f.image.iter().all(|&b| b == 255), "white everywhere");
}

#[test]
fn launch_fragment_ending_in_raw_video() {
    let mut src = open(SourceKind::Launch(
        "videotestsrc num-buffers=5 pattern=black ! video/x-raw,width=32,height=16,format=I420"
            .into(),
    ));
    let mut n = 0;
    while let Some(f) = src.next_frame().unwrap() {
        assert!(f.image.iter().all(|&b| b < 20), "black in BGR");
        n += 1;
    }
    assert_eq!(n, 5);
}

/// Encodes a short clip with gst-launch-1.0 (with an audio track where the container takes one).
fn make_clip(path: &std::path::Path, encoder: &str, mux: &str, audio: bool) {
    let mut args = format!(
        "videotestsrc num-buffers=20 ! video/x-raw,width=160,height=96,framerate=20/1 ! videoconvert ! video/x-raw,format=I420 ! {encoder} ! {mux} name=mux ! filesink location={}",
        path.display()
    );
    if audio {
        args.push_str(" audiotestsrc num-buffers=10 ! audioconvert ! avenc_aac ! mux.");
    }
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(args.split(' '))
        .status()
        .unwrap()
        .success();
    assert!(ok, "gst-launch-1.0 made {}", path.display());
}

#[test]
fn files_in_mp4_mkv_mov_with_h264_or_h265_and_audio() {
    let dir = tempdir("containers");
    let cases = [
        ("h264.mp4", "x264enc", "mp4mux", true),
        ("h265.mkv", "x265enc ! h265parse", "matroskamux", true),
        ("h264.mov", "x264enc", "qtmux", true),
        ("h265.mp4", "x265enc ! h265parse", "mp4mux", false),
    ];
    for (name, enc, mux, audio) in cases {
        let p = dir.join(name);
        make_clip(&p, enc, mux, audio);
        assert_eq!(count_frames(&p), 20, "{name}");
    }
}

#[test]
fn the_real_drive_decodes_to_221_frames_despite_its_audio_track() {
    assert_eq!(count_frames(&assets().join("solidWhiteRight.mp4")), 221);
}

#[test]
fn the_video_sink_encodes_odd_sizes() {
    // 322 x 3 bytes a row is not a multiple of 4, and 181 rows cannot be 4:2:0 as they are.
    let dir = tempdir("odd-video");
    let file = dir.join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "name: odd\nruntime: {{metrics_addr: 'off'}}\nsources: {{cam: {{type: test, num_frames: 15, width: 322, height: 181}}}}\nsinks: [{{type: video, path: {}/o.mp4}}]\n",
            dir.display()
        ),
    )
    .unwrap();
    let o = perceptd().arg("run").arg(&file).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spec = SourceSpec {
        reconnect: None,
        pace: perceptd::config::Pace::Fast,
        stream: "o".into(),
        kind: SourceKind::File(dir.join("o.mp4")),
        mode: SourceMode::Replay,
    };
    let mut src = Source::open(
        &spec,
        Arc::new(AtomicBool::new(false)),
        perceptd::config::SupportPriority::Normal,
    )
    .unwrap();
    let f = src.next_frame().unwrap().expect("a frame");
    assert_eq!((f.width, f.height), (322, 180), "even height for x264");
    assert_eq!(count_frames(&dir.join("o.mp4")), 15);
}

#[test]
fn a_still_image_is_one_frame_or_repeated() {
    // The real JPEG still, three times at 2 fps: the same 960x540 pixels each time.
    let mut src = open(SourceKind::Image {
        path: assets().join("whiteCarLaneSwitch.jpg"),
        repeat: 3,
        fps: 2,
    });
    let mut frames = vec![];
    while let Some(f) = src.next_frame().unwrap() {
        assert_eq!((f.width, f.height), (960, 540));
        assert_eq!(f.pts_ns, Some(f.seq * 500_000_000), "2 fps PTS");
        frames.push(f.image.to_vec());
    }
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f == &frames[0]));
    // A PNG made here, once (the default).
    let dir = tempdir("png");
    let png = dir.join("still.png");
    let ok = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=1", "pattern=ball", "!"])
        .args([
            "video/x-raw,width=80,height=60",
            "!",
            "pngenc",
            "!",
            "filesink",
        ])
        .arg(format!("location={}", png.display()))
        .status()
        .unwrap();
    assert!(ok.success());
    let mut src = open(SourceKind::Image {
        path: png,
        repeat: 1,
        fps: 1,
    });
    let f = src.next_frame().unwrap().expect("one frame");
    assert_eq!((f.width, f.height), (80, 60));
    assert!(src.next_frame().unwrap().is_none(), "then the end");
}

#[test]
fn a_file_that_is_not_an_image_fails_with_the_element() {
    let dir = tempdir("notimg");
    let bad = dir.join("bad.jpg");
    std::fs::write(&bad, b"not a jpeg at all").unwrap();
    let r = Source::open(
        &SourceSpec {
            reconnect: None,
            pace: perceptd::config::Pace::Fast,
            stream: "t".into(),
            kind: SourceKind::Image {
                path: bad,
                repeat: 1,
                fps: 1,
            },
            mode: SourceMode::Replay,
        },
        Arc::new(AtomicBool::new(false)),
        perceptd::config::SupportPriority::Normal,
    )
    .and_then(|mut s| s.next_frame().map(|_| ()));
    let e = r.expect_err("garbage is not an image").to_string();
    assert!(e.contains("source t"), "{e}");
}

/// Serves `body` over HTTP on 127.0.0.1 to clients with the Basic credentials `user:pw` (a
/// 401 challenge otherwise), until the returned flag is set.
fn http_file_server(body: Vec<u8>, auth: &'static str) -> (std::net::SocketAddr, Arc<AtomicBool>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let expected = format!("Basic {}", base64_encode(auth.as_bytes()));
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok(Some(req)) = server.recv_timeout(std::time::Duration::from_millis(100)) else {
                continue;
            };
            let ok = req
                .headers()
                .iter()
                .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected);
            let _ = if ok {
                req.respond(
                    tiny_http::Response::from_data(body.clone()).with_header(
                        "Content-Type: video/mp4"
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    ),
                )
            } else {
                req.respond(
                    tiny_http::Response::empty(401).with_header(
                        "WWW-Authenticate: Basic realm=\"cams\""
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    ),
                )
            };
        }
    });
    (addr, stop)
}

fn base64_encode(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
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

#[test]
fn a_uri_source_reads_a_clip_over_http_with_credentials_kept_out_of_the_url() {
    let clip = std::fs::read(assets().join("solidWhiteRight.mp4")).unwrap();
    let (addr, stop) = http_file_server(clip, "viewer:pa55");
    let dir = tempdir("uri-http");
    let yaml = format!(
        "name: web\nruntime: {{metrics_addr: \"off\"}}\nsources:\n  web: {{type: uri, uri: \"http://viewer:pa55@{addr}/drive.mp4\", mode: replay}}\nsinks:\n  - {{type: jsonl, path: \"{}\"}}\n",
        dir.join("out.jsonl").display()
    );
    let spec = perceptd::config::load_str(&yaml, &dir, &|_| None).unwrap();
    match &spec.sources[0].kind {
        perceptd::config::SourceKind::Uri(u) => {
            assert_eq!(
                u.url,
                format!("http://{addr}/drive.mp4"),
                "credentials kept apart"
            );
            assert_eq!(u.redacted(), format!("http://***@{addr}/drive.mp4"));
        }
        k => panic!("{k:?}"),
    }
    let report =
        crate::common::run_yaml(&yaml, &dir, Arc::new(perceptd::telemetry::Metrics::new()));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // The reference: the same file read locally in push mode, as any stream is (qtdemux yields
    // 175 of this clip's 221 frames in push mode, its last 1.8 s unread; read by path, in pull
    // mode, all 221).
    let local = format!(
        "name: local\nruntime: {{metrics_addr: \"off\"}}\nsources:\n  f: {{type: launch, mode: replay, launch: \"pushfilesrc location={} ! decodebin\"}}\nsinks:\n  - {{type: jsonl, path: \"{}\"}}\n",
        assets().join("solidWhiteRight.mp4").display(),
        dir.join("local.jsonl").display()
    );
    let reference =
        crate::common::run_yaml(&local, &dir, Arc::new(perceptd::telemetry::Metrics::new()));
    assert!(reference.frames > 150, "{}", reference.frames);
    assert_eq!(
        report.frames, reference.frames,
        "the clip over HTTP, frame for frame"
    );
    let (a, b) = (
        crate::common::read_jsonl(&dir.join("out.jsonl")),
        crate::common::read_jsonl(&dir.join("local.jsonl")),
    );
    assert!(
        a.iter().zip(&b).all(|(x, y)| x["pts_ns"] == y["pts_ns"]),
        "same frames"
    );
}

#[test]
fn v4l2_sources_accept_raw_or_mjpeg_at_the_asked_size() {
    // No camera in CI: the launch line is checked, and a missing device is a clear error.
    let spec = SourceSpec {
        stream: "cam".into(),
        kind: SourceKind::V4l2 {
            device: "/dev/video-none".into(),
            width: Some(640),
            height: Some(480),
            fps: Some(30),
        },
        mode: SourceMode::Live,
        reconnect: None,
        pace: perceptd::config::Pace::Fast,
    };
    let line = perceptd::source::launch_line(&spec);
    assert!(
        line.starts_with("v4l2src device=\"/dev/video-none\" ! video/x-raw,width=640,height=480,framerate=30/1;image/jpeg,width=640,height=480,framerate=30/1 ! decodebin"),
        "{line}"
    );
    let e = perceptd::source::probe(&spec).unwrap_err().to_string();
    assert!(e.contains("source cam") && e.contains("video-none"), "{e}");
}

#[test]
fn a_replay_paced_to_realtime_takes_the_clips_duration_and_a_fast_one_does_not() {
    let dir = tempdir("pace");
    let img = assets().join("whiteCarLaneSwitch.jpg");
    let run = |pace: &str| {
        let yaml = format!(
            "name: pace\nruntime: {{metrics_addr: \"off\"}}\nsources:\n  still: {{type: image, path: \"{}\", repeat: 20, fps: 10, pace: {pace}}}\nsinks:\n  - {{type: jsonl, path: \"{}\"}}\n",
            img.display(),
            dir.join(format!("{pace}.jsonl")).display()
        );
        let t0 = std::time::Instant::now();
        let r = run_yaml(&yaml, &dir, Arc::new(perceptd::telemetry::Metrics::new()));
        (r, t0.elapsed().as_secs_f64())
    };
    let (paced, t_paced) = run("realtime");
    let (fast, t_fast) = run("fast");
    eprintln!("realtime {t_paced:.2} s, fast {t_fast:.2} s");
    assert_eq!((paced.frames, fast.frames), (20, 20));
    // 20 frames at 10 fps: the last is due 1.9 s after the first.
    assert!((1.85..3.0).contains(&t_paced), "paced run took {t_paced} s");
    assert!(t_fast < 1.5, "fast run took {t_fast} s");
    // The pacing wait is not counted as latency.
    assert!(perceptd::graph::quantile(&paced.latencies, 0.5) < 0.1);
    let e = perceptd::config::load_str(
        "name: t\nsources:\n  cam: {type: test, mode: live, pace: realtime}\n",
        &dir,
        &|_| None,
    )
    .unwrap_err();
    assert!(
        e.iter()
            .any(|e| e.key == "sources.cam.pace" && e.message.contains("mode: replay")),
        "{e:?}"
    );
}
