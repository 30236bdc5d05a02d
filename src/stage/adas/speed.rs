//! The ego vehicle's speed for headway: a constant from the pipeline file, or per frame from a
//! sidecar file of `t_s,speed_mps` lines (a CAN or GPS log, or a sample drive's
//! `gt/<drive>.speed.csv`), interpolated linearly in time.

use std::path::Path;

/// Speeds over time, sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub enum EgoSpeed {
    Constant(f64),
    Samples(Vec<(f64, f64)>),
}

impl EgoSpeed {
    /// Reads a sidecar: one `t_s,speed_mps` a line; `#` lines and a header are skipped.
    pub fn load(path: &Path) -> Result<EgoSpeed, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the speed file: {e}", path.display()))?;
        EgoSpeed::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<EgoSpeed, String> {
        let mut out: Vec<(f64, f64)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (n == 0 && line.starts_with('t')) {
                continue;
            }
            let mut parts = line.split([',', ' ', '\t']).filter(|p| !p.is_empty());
            let parsed = (|| {
                let t: f64 = parts.next()?.parse().ok()?;
                let v: f64 = parts.next()?.parse().ok()?;
                (t.is_finite() && v.is_finite() && v >= 0.0).then_some((t, v))
            })();
            let Some((t, v)) = parsed else {
                return Err(format!(
                    "line {}: `{line}` is not `t_s,speed_mps` (seconds, metres a second, 0 or more)",
                    n + 1
                ));
            };
            if out.last().is_some_and(|l| l.0 >= t) {
                return Err(format!(
                    "line {}: time {t} does not follow the line before; give times in increasing order",
                    n + 1
                ));
            }
            out.push((t, v));
        }
        if out.is_empty() {
            return Err("no `t_s,speed_mps` lines".into());
        }
        Ok(EgoSpeed::Samples(out))
    }

    /// The speed at `t`; `None` outside the file's times (by more than a second).
    pub fn at(&self, t: f64) -> Option<f64> {
        let s = match self {
            EgoSpeed::Constant(v) => return Some(*v),
            EgoSpeed::Samples(s) => s,
        };
        let i = s.partition_point(|p| p.0 <= t);
        match (i.checked_sub(1).map(|k| s[k]), s.get(i)) {
            (Some(a), Some(b)) => Some(a.1 + (b.1 - a.1) * (t - a.0) / (b.0 - a.0)),
            (Some(a), None) if t - a.0 <= 1.0 => Some(a.1),
            (None, Some(b)) if b.0 - t <= 1.0 => Some(b.1),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_is_interpolated_and_bad_lines_are_named() {
        let s = EgoSpeed::parse("t_s,speed_mps\n0,10\n1.0,12\n2.0,12\n").unwrap();
        assert_eq!(s.at(0.5), Some(11.0));
        assert_eq!(s.at(2.5), Some(12.0));
        assert_eq!(s.at(3.5), None);
        assert_eq!(s.at(-2.0), None);
        let e = EgoSpeed::parse("0,10\n0.5,fast\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("fast"), "{e}");
        let e = EgoSpeed::parse("1,10\n0.5,3\n").unwrap_err();
        assert!(e.contains("increasing"), "{e}");
        assert_eq!(EgoSpeed::Constant(8.0).at(99.0), Some(8.0));
    }
}
