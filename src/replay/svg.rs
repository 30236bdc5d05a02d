//! Small SVG charts for the HTML reports: lines (several series) and grouped bars, with axes,
//! ticks and a legend. Plain SVG text, no fonts or scripts, so a report opens anywhere offline.

use std::fmt::Write as _;

const W: f64 = 560.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 54.0;
/// Colour-blind-friendly (Okabe-Ito), then greys.
pub const COLOURS: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#555555",
];

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// About five round tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = vec![];
    while v <= hi + step * 1e-9 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 || v.abs() < 0.01 {
        format!("{v:.2e}")
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Ticks of a log10 axis spanning `[lo, hi]` (exponents): at 1, 2 and 5 times the powers of
/// ten, or only the powers when that makes too many.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decade = |ms: &[f64]| -> Vec<f64> {
        (lo.floor() as i32..=hi.ceil() as i32)
            .flat_map(|k| ms.iter().map(move |m| (m * 10f64.powi(k)).log10()))
            .filter(|t| (lo - 1e-9..=hi + 1e-9).contains(t))
            .collect()
    };
    let fine = decade(&[1.0, 2.0, 5.0]);
    if fine.len() <= 8 {
        fine
    } else {
        decade(&[1.0])
    }
}

/// A log-axis tick (its exponent) as the plain number: `0.05`, `1`, `200`.
fn fmt_log_tick(t: f64) -> String {
    let v = 10f64.powf(t);
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn header(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="11"><rect width="{W}" height="{H}" fill="white"/><text x="{}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
        W / 2.0,
        escape(title)
    );
}

/// Axes with ticks; returns the mapping closures' parameters.
fn axes(
    out: &mut String,
    x: (f64, f64),
    y: (f64, f64),
    x_label: &str,
    y_label: &str,
    x_ticks: XTicks,
) {
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
    );
    for t in ticks(y.0, y.1) {
        let py = TOP + ph - (t - y.0) / (y.1 - y.0).max(1e-12) * ph;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 4.0,
            py + 4.0,
            fmt_tick(t)
        );
    }
    let xt = match x_ticks {
        XTicks::None => vec![],
        XTicks::Linear => ticks(x.0, x.1),
        XTicks::Log => log_ticks(x.0, x.1),
    };
    for t in xt {
        let px = LEFT + (t - x.0) / (x.1 - x.0).max(1e-12) * pw;
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{}" y2="{}" stroke="#999"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 4.0,
            TOP + ph + 16.0,
            if x_ticks == XTicks::Log {
                fmt_log_tick(t)
            } else {
                fmt_tick(t)
            }
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 8.0,
        escape(x_label),
        TOP + ph / 2.0,
        escape(y_label)
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum XTicks {
    None,
    Linear,
    /// x holds log10 of the values; ticks name the values.
    Log,
}

/// Names with their colours, in rows inside the plot's top edge.
fn legend(out: &mut String, names: &[&str]) {
    let (mut x, mut y) = (LEFT + 6.0, TOP + 4.0);
    for (i, n) in names.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let w = 22.0 + 6.5 * n.chars().count() as f64;
        if x + w > W - RIGHT && x > LEFT + 6.0 {
            x = LEFT + 6.0;
            y += 14.0;
        }
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="10" height="10" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 13.0,
            y + 9.0,
            escape(n)
        );
        x += w;
    }
}

/// Several series of `(x, y)` points as lines.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    lines_over(title, x_label, y_label, series, &[], &[])
}

/// Lines over a logarithmic x axis: `series` x values are plain (> 0; e.g. milliseconds) and
/// the ticks name them (`0.1`, `1`, `10`, ...). Points at or below 0 are left out.
pub fn lines_log_x(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let logged: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(n, p)| {
            let p = p
                .iter()
                .filter(|(x, _)| *x > 0.0)
                .map(|&(x, y)| (x.log10(), y));
            (n.clone(), p.collect())
        })
        .collect();
    plot(title, x_label, y_label, &logged, &[], &[], XTicks::Log)
}

/// Lines over shaded x intervals (`bands`, e.g. true events) and thin vertical marks (e.g.
/// warnings raised). The y axis takes in negative values when there are any.
pub fn lines_over(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    bands: &[(f64, f64)],
    marks: &[f64],
) -> String {
    plot(
        title,
        x_label,
        y_label,
        series,
        bands,
        marks,
        XTicks::Linear,
    )
}

fn plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    bands: &[(f64, f64)],
    marks: &[f64],
    x_ticks: XTicks,
) -> String {
    let mut out = String::new();
    header(&mut out, title);
    let pts = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, 0.0f64);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 <= 0.0 && y0 >= 0.0 {
        1.0
    } else {
        y1 * 1.08
    };
    let y0 = y0 * 1.08;
    axes(&mut out, (x0, x1), (y0, y1), x_label, y_label, x_ticks);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |x: f64| LEFT + (x.clamp(x0, x1) - x0) / (x1 - x0) * pw;
    for &(a, b) in bands {
        if b > x0 && a < x1 {
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{ph}" fill="#D55E00" fill-opacity="0.15"/>"##,
                px(a),
                (px(b) - px(a)).max(1.0)
            );
        }
    }
    for &m in marks {
        if (x0..=x1).contains(&m) {
            let _ = write!(
                out,
                r##"<line x1="{0:.1}" x2="{0:.1}" y1="{TOP}" y2="{1}" stroke="#D55E00" stroke-dasharray="3 2"/>"##,
                px(m),
                TOP + ph
            );
        }
    }
    for (i, (_, p)) in series.iter().enumerate() {
        // A gap in the data (a non-finite value) breaks the line.
        let mut runs: Vec<Vec<String>> = vec![vec![]];
        for &(x, y) in p {
            if x.is_finite() && y.is_finite() {
                let py = TOP + ph - (y - y0) / (y1 - y0) * ph;
                runs.last_mut()
                    .unwrap()
                    .push(format!("{:.1},{py:.1}", px(x)));
            } else if !runs.last().unwrap().is_empty() {
                runs.push(vec![]);
            }
        }
        for d in runs.iter().filter(|d| !d.is_empty()) {
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.8" points="{}"/>"#,
                COLOURS[i % COLOURS.len()],
                d.join(" ")
            );
        }
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

/// Grouped bars: one group per category, one bar per series (`None`: no bar, "n/a").
pub fn bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>)],
) -> String {
    let mut out = String::new();
    header(&mut out, title);
    let y1 = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.15 };
    axes(&mut out, (0.0, 1.0), (0.0, y1), "", y_label, XTicks::None);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let n = categories.len().max(1) as f64;
    let group = pw / n;
    let k = series.len().max(1) as f64;
    let bar = (group * 0.8 / k).min(40.0);
    for (c, name) in categories.iter().enumerate() {
        let gx = LEFT + group * c as f64 + (group - bar * k) / 2.0;
        for (s, (_, vals)) in series.iter().enumerate() {
            let x = gx + bar * s as f64;
            match vals.get(c).copied().flatten() {
                Some(v) => {
                    let h = v / y1 * ph;
                    let _ = write!(
                        out,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                        TOP + ph - h,
                        bar.max(1.0) - 1.0,
                        COLOURS[s % COLOURS.len()],
                        escape(name),
                        fmt_tick(v)
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="#999">n/a</text>"##,
                        x + bar / 2.0,
                        TOP + ph - 3.0
                    );
                }
            }
        }
        let label: String = name.chars().take(14).collect();
        let _ = write!(
            out,
            r#"<text transform="translate({:.1} {}) rotate(30)" font-size="10">{}</text>"#,
            LEFT + group * c as f64 + group / 2.0 - 4.0,
            TOP + ph + 12.0,
            escape(&label)
        );
    }
    if series.len() > 1 {
        let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
        legend(&mut out, &names);
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(0.0, 0.37);
        assert!(t.len() >= 3 && t.len() <= 7, "{t:?}");
        assert!(t.iter().all(|v| *v >= 0.0 && *v <= 0.37 + 1e-9));
    }

    #[test]
    fn charts_are_well_formed_svg_with_escaped_text() {
        let s = lines(
            "fps <a&b>",
            "s",
            "frames/s",
            &[("x".into(), vec![(0.0, 1.0), (1.0, 3.0)])],
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("fps &lt;a&amp;b&gt;") && s.contains("<polyline"));
        let b = bars(
            "AP",
            "AP",
            &["car".into(), "person".into()],
            &[("a".into(), vec![Some(0.5), None])],
        );
        assert!(b.contains("<rect") && b.contains("n/a"));
    }
}
