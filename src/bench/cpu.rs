//! Where the CPU time goes: samples every thread of this process from `/proc/self/task` while a
//! run goes on, so threads that end before the run does (GStreamer's) are counted too.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// CPU seconds (user + system) this process has used so far, all threads.
pub fn process_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds by thread name, largest first.
pub type CpuByThread = Vec<(String, f64)>;

pub struct CpuMonitor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<HashMap<u64, (String, u64)>>>,
}

/// `(tid, name, utime + stime in clock ticks)` of every thread now.
fn sample() -> Vec<(u64, String, u64)> {
    let mut out = vec![];
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: comm may hold spaces and parentheses; it ends at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After comm: state is field 3 of the line; utime and stime are fields 14 and 15.
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        out.push((
            tid,
            name,
            u.parse::<u64>().unwrap_or(0) + s.parse::<u64>().unwrap_or(0),
        ));
    }
    out
}

impl CpuMonitor {
    pub fn start(period: Duration) -> CpuMonitor {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cpu-monitor".into())
            .spawn(move || {
                let mut seen: HashMap<u64, (String, u64)> = HashMap::new();
                let base: HashMap<u64, u64> =
                    sample().into_iter().map(|(t, _, c)| (t, c)).collect();
                loop {
                    for (tid, name, ticks) in sample() {
                        let used = ticks.saturating_sub(base.get(&tid).copied().unwrap_or(0));
                        seen.insert(tid, (name, used));
                    }
                    if s.load(Ordering::Relaxed) {
                        return seen;
                    }
                    std::thread::sleep(period);
                }
            })
            .expect("spawn cpu monitor");
        CpuMonitor {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; CPU seconds per thread name (threads of the same name summed).
    pub fn finish(mut self) -> CpuByThread {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let mut by_name: HashMap<String, f64> = HashMap::new();
        for (name, ticks) in seen.into_values() {
            *by_name.entry(name).or_default() += ticks as f64 / hz;
        }
        let mut v: Vec<_> = by_name.into_iter().filter(|(_, s)| *s > 0.0).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_busy_thread_that_has_ended() {
        let m = CpuMonitor::start(Duration::from_millis(20));
        std::thread::Builder::new()
            .name("busy-test".into())
            .spawn(|| {
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while t.elapsed() < Duration::from_millis(300) {
                    x = x.wrapping_mul(31).wrapping_add(7);
                }
                std::hint::black_box(x);
            })
            .unwrap()
            .join()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let cpu = m.finish();
        let busy = cpu
            .iter()
            .find(|(n, _)| n == "busy-test")
            .map(|(_, s)| *s)
            .unwrap_or(0.0);
        assert!(
            busy >= 0.1,
            "the busy thread's CPU time was seen after it ended: {cpu:?}"
        );
    }
}
