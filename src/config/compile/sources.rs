//! `sources:`: each stream's source checked, network URLs split from their credentials.

use super::super::diag::{Diagnostics, parse_component, resolve};
use super::super::raw::*;
use super::super::spec::*;
use super::read::{readable_file, tagged, valid_name};
use serde_yaml_ng::Value;
use std::path::Path;

pub(super) fn sources(
    v: Option<&Value>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> Option<Vec<SourceSpec>> {
    let Some(Value::Mapping(map)) = v else {
        diag.error(
            "sources",
            "missing or not a mapping; add `sources: {cam: {type: file, path: drive.mp4}}`",
        );
        return None;
    };
    if map.is_empty() {
        diag.error(
            "sources",
            "is empty; add at least one, e.g. `sources: {cam: {type: file, path: drive.mp4}}`",
        );
        return None;
    }
    let mut out = vec![];
    let mut ok = true;
    for (k, v) in map {
        let stream = super::super::lines::key_text(k);
        let path = format!("sources.{stream}");
        if !valid_name(&stream) {
            diag.error(
                path.clone(),
                "a stream id is letters, digits, `_` or `-` (it becomes a metric label)",
            );
        }
        // `pace` is common to every kind: taken out before the kind's own keys are read.
        let mut pace_raw = None;
        let tagged = tagged(
            v,
            &path,
            &["file", "image", "test", "launch", "rtsp", "uri", "v4l2"],
            diag,
        )
        .map(|(kind, mut rest)| {
            if let Value::Mapping(m) = &mut rest {
                pace_raw = m.remove("pace");
            }
            (kind, rest)
        });
        let raw = match tagged {
            Some(("uri", rest)) => parse_component(&rest, &path, diag).map(RawSource::Uri),
            Some(("v4l2", rest)) => parse_component(&rest, &path, diag).map(RawSource::V4l2),
            Some(("file", rest)) => parse_component(&rest, &path, diag).map(RawSource::File),
            Some(("rtsp", rest)) => parse_component(&rest, &path, diag).map(RawSource::Rtsp),
            Some(("image", rest)) => parse_component(&rest, &path, diag).map(RawSource::Image),
            Some(("test", rest)) => parse_component(&rest, &path, diag).map(RawSource::Test),
            Some((_, rest)) => parse_component(&rest, &path, diag).map(RawSource::Launch),
            None => None,
        };
        let Some(raw) = raw else {
            ok = false;
            continue;
        };
        let mut reconnect = None;
        let (kind, mode) = match raw {
            RawSource::Uri(u) => {
                // The same keys as RTSP, but for uridecodebin.
                let r = RtspSource {
                    url: u.uri,
                    transport: None,
                    latency_ms: None,
                    username: u.username,
                    password_env: u.password_env,
                    password_file: u.password_file,
                    stall_timeout_s: u.stall_timeout_s,
                    reconnect_min_s: u.reconnect_min_s,
                    reconnect_max_s: u.reconnect_max_s,
                    mode: u.mode,
                };
                let mode = r.mode.unwrap_or(SourceMode::Live);
                let rc = reconnect_spec(&r, &path, diag);
                // Live streams are supervised; a replayed file ends at its end.
                reconnect = (mode == SourceMode::Live).then_some(rc);
                match net_spec(&r, URI_SCHEMES, &path, base, env, diag) {
                    Some(k) => (SourceKind::Uri(k), mode),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            RawSource::V4l2(v) => {
                let r = RtspSource {
                    url: String::new(),
                    transport: None,
                    latency_ms: None,
                    username: None,
                    password_env: None,
                    password_file: None,
                    stall_timeout_s: v.stall_timeout_s,
                    reconnect_min_s: v.reconnect_min_s,
                    reconnect_max_s: v.reconnect_max_s,
                    mode: v.mode,
                };
                reconnect = Some(reconnect_spec(&r, &path, diag));
                if v.width == Some(0) || v.height == Some(0) || v.fps == Some(0) {
                    diag.error(path.clone(), "width, height and fps must be above 0");
                }
                (
                    SourceKind::V4l2 {
                        device: v.device.into(),
                        width: v.width,
                        height: v.height,
                        fps: v.fps,
                    },
                    v.mode.unwrap_or(SourceMode::Live),
                )
            }
            RawSource::Rtsp(r) => {
                reconnect = Some(reconnect_spec(&r, &path, diag));
                match rtsp_spec(&r, &path, base, env, diag) {
                    Some(k) => (SourceKind::Rtsp(k), r.mode.unwrap_or(SourceMode::Live)),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            RawSource::File(FileSource { path: p, mode }) => {
                let file = resolve(base, &p);
                readable_file(&file, &format!("{path}.path"), "a video file", diag);
                (SourceKind::File(file), mode.unwrap_or(SourceMode::Replay))
            }
            RawSource::Image(ImageSource {
                path: p,
                repeat,
                fps,
                mode,
            }) => {
                let file = resolve(base, &p);
                readable_file(&file, &format!("{path}.path"), "a JPEG or PNG file", diag);
                let (repeat, fps) = (repeat.unwrap_or(1), fps.unwrap_or(1));
                if repeat == 0 || repeat > i32::MAX as u64 {
                    diag.error(
                        format!("{path}.repeat"),
                        "must be 1 or more (frames made of the image)",
                    );
                }
                if fps == 0 {
                    diag.error(format!("{path}.fps"), "must be above 0");
                }
                (
                    SourceKind::Image {
                        path: file,
                        repeat,
                        fps,
                    },
                    mode.unwrap_or(SourceMode::Replay),
                )
            }
            RawSource::Test(TestSource {
                pattern,
                num_frames,
                width,
                height,
                fps,
                mode,
            }) => {
                let (w, h, f) = (
                    width.unwrap_or(640),
                    height.unwrap_or(480),
                    fps.unwrap_or(30),
                );
                if w == 0 || h == 0 || f == 0 {
                    diag.error(path.clone(), "width, height and fps must be above 0");
                }
                let kind = SourceKind::Test {
                    pattern: pattern.unwrap_or_else(|| "smpte".into()),
                    num_frames,
                    width: w,
                    height: h,
                    fps: f,
                };
                (kind, mode.unwrap_or(SourceMode::Replay))
            }
            RawSource::Launch(LaunchSource { launch, mode }) => {
                if launch.trim().is_empty() {
                    diag.error(
                        format!("{path}.launch"),
                        "empty; write a gst-launch-1.0 fragment that ends in raw video",
                    );
                }
                (SourceKind::Launch(launch), mode.unwrap_or(SourceMode::Live))
            }
        };
        let pace = match &pace_raw {
            None => Pace::Fast,
            Some(p) => match parse_component::<Pace>(p, &format!("{path}.pace"), diag) {
                Some(p) => p,
                None => {
                    ok = false;
                    Pace::Fast
                }
            },
        };
        if pace == Pace::Realtime && mode == SourceMode::Live {
            diag.error(
                format!("{path}.pace"),
                "a live source comes at its own pace; `pace: realtime` is for `mode: replay`",
            );
            ok = false;
        }
        out.push(SourceSpec {
            stream,
            kind,
            mode,
            reconnect,
            pace,
        });
    }
    ok.then_some(out)
}

/// Splits `rtsp://user:password@host/path` into the URL without credentials and the
/// percent-decoded user and password. Errors never quote the credentials.
#[cfg(test)]
pub(crate) fn split_rtsp_url(
    url: &str,
) -> Result<(String, Option<String>, Option<String>), String> {
    split_url(url, RTSP_SCHEMES)
}

const RTSP_SCHEMES: &[&str] = &["rtsp", "rtsps", "rtspt"];
const URI_SCHEMES: &[&str] = &["http", "https", "file"];

/// As [`split_rtsp_url`], for a URL whose scheme is one of `schemes`.
fn split_url(
    url: &str,
    schemes: &[&str],
) -> Result<(String, Option<String>, Option<String>), String> {
    let example = format!("{}://host[:port]/path", schemes[0]);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("is not a URL; write {example}"));
    };
    if !schemes.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "has scheme `{scheme}`; this source takes {}",
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if scheme.eq_ignore_ascii_case("file") {
        return Ok((url.to_string(), None, None));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("has no host; write {example}"));
    }
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (name, pw) = match u.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (u, None),
            };
            (Some(percent_decode(name)), pw.map(percent_decode))
        }
    };
    Ok((format!("{scheme}://{host}{tail}"), user, password))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rtsp_spec(
    r: &RtspSource,
    path: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> Option<RtspSpec> {
    net_spec(r, RTSP_SCHEMES, path, base, env, diag)
}

/// The URL and credentials of a network source whose URL has one of `schemes`.
fn net_spec(
    r: &RtspSource,
    schemes: &[&str],
    path: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> Option<RtspSpec> {
    let key = if schemes == RTSP_SCHEMES {
        "url"
    } else {
        "uri"
    };
    // A bad URL is reported, and the other keys are still checked.
    let (url, mut username, mut password) = match split_url(&r.url, schemes) {
        Ok(x) => x,
        Err(why) => {
            diag.error(
                format!("{path}.{key}"),
                format!("`{}` {why}", redact_url(&r.url)),
            );
            (String::new(), None, None)
        }
    };
    if let Some(u) = &r.username {
        username = Some(u.clone());
    }
    if r.password_env.is_some() && r.password_file.is_some() {
        diag.error(
            format!("{path}.password_file"),
            "give the password one way: `password_env` or `password_file`, not both",
        );
    }
    if let Some(var) = &r.password_env {
        match env(var) {
            Some(v) if !v.is_empty() => password = Some(v),
            _ => diag.error(
                format!("{path}.password_env"),
                format!("environment variable `{var}` is not set (or empty); export it, or use `password_file`"),
            ),
        }
    }
    if let Some(f) = &r.password_file {
        let file = resolve(base, f);
        match std::fs::read_to_string(&file) {
            // An empty file is no password: the unit's fallback when no credential is installed.
            Ok(v) => {
                let v = v.trim_end_matches(['\n', '\r']);
                if !v.is_empty() {
                    password = Some(v.to_string());
                }
            }
            Err(e) => diag.error(
                format!("{path}.password_file"),
                format!("cannot read {}: {e}; give a readable file holding only the password (under systemd: LoadCredential=NAME:/path in the unit and `password_file: ${{CREDENTIALS_DIRECTORY}}/NAME` here)", file.display()),
            ),
        }
    }
    if password.is_some() && username.is_none() {
        diag.error(
            format!("{path}.username"),
            "a password without a user name; put `user:password@` in the URL or set `username`",
        );
    }
    if url.is_empty() {
        return None;
    }
    Some(RtspSpec {
        url,
        username,
        password: password.map(Secret),
        transport: r.transport.unwrap_or(RtspTransport::Tcp),
        latency_ms: r.latency_ms.unwrap_or(200),
    })
}

/// `rtsp://***@host/...` for any URL with user information, for messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

fn reconnect_spec(r: &RtspSource, path: &str, diag: &mut Diagnostics) -> ReconnectSpec {
    let mut secs = |key: &str, v: Option<f64>, default: f64| -> std::time::Duration {
        let v = v.unwrap_or(default);
        if !(v.is_finite() && v > 0.0 && v < 86_400.0) {
            diag.error(
                format!("{path}.{key}"),
                format!("{v} is not a time; give seconds above 0"),
            );
            return std::time::Duration::from_secs_f64(default);
        }
        std::time::Duration::from_secs_f64(v)
    };
    let stall_timeout = secs("stall_timeout_s", r.stall_timeout_s, 5.0);
    let min_delay = secs("reconnect_min_s", r.reconnect_min_s, 0.5);
    let max_delay = secs("reconnect_max_s", r.reconnect_max_s, 4.0);
    if max_delay < min_delay {
        diag.error(
            format!("{path}.reconnect_max_s"),
            "is below reconnect_min_s; the delay grows from the minimum up to the maximum",
        );
    }
    ReconnectSpec {
        stall_timeout,
        min_delay,
        max_delay,
    }
}

#[cfg(test)]
mod rtsp_url_tests {
    use super::*;

    #[test]
    fn credentials_are_split_off_decoded_and_never_shown() {
        let (url, u, p) = split_rtsp_url("rtsp://ad%40min:p%3Ass@cam.local:554/live?x=1").unwrap();
        assert_eq!(url, "rtsp://cam.local:554/live?x=1");
        assert_eq!(u.as_deref(), Some("ad@min"));
        assert_eq!(p.as_deref(), Some("p:ss"));
        let (url, u, p) = split_rtsp_url("rtsp://10.0.0.5/stream1").unwrap();
        assert_eq!(
            (url.as_str(), u, p),
            ("rtsp://10.0.0.5/stream1", None, None)
        );
        assert_eq!(redact_url("rtsp://admin:hunter2@cam/x"), "rtsp://***@cam/x");
        assert_eq!(
            redact_url("rtsp://cam/x@y"),
            "rtsp://cam/x@y",
            "an @ in the path is not user information"
        );
        for bad in ["http://cam/x", "rtsp://", "cam/x", "rtsp://user:pw@/x"] {
            let e = split_rtsp_url(bad).unwrap_err();
            assert!(!e.contains("pw"), "{e}");
        }
    }
}
