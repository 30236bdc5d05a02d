//! The systemd notify protocol (sd_notify(3)): newline-separated `KEY=value` datagrams to the
//! Unix socket named by `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket). Without the
//! variable (not under systemd) every message is a no-op.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    /// `WATCHDOG_USEC` when it is meant for this process: ping at least this often.
    pub watchdog: Option<Duration>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_env() -> io::Result<Notifier> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let socket = match var("NOTIFY_SOCKET") {
            None => None,
            Some(name) => {
                let addr = match name.strip_prefix('@') {
                    Some(abs) => {
                        use std::os::linux::net::SocketAddrExt;
                        SocketAddr::from_abstract_name(abs.as_bytes())?
                    }
                    None => SocketAddr::from_pathname(&name)?,
                };
                Some((UnixDatagram::unbound()?, addr))
            }
        };
        let for_us =
            var("WATCHDOG_PID").is_none_or(|p| p.parse::<u32>().ok() == Some(std::process::id()));
        let watchdog = var("WATCHDOG_USEC")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0 && for_us)
            .map(Duration::from_micros);
        Ok(Notifier { socket, watchdog })
    }

    /// Sends one message, e.g. `READY=1\nSTATUS=...`. Errors are logged, not fatal: a daemon
    /// must not stop because its supervisor went away.
    pub fn send(&self, msg: &str) {
        if let Some((sock, addr)) = &self.socket
            && let Err(e) = sock.send_to_addr(msg.as_bytes(), addr)
        {
            tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
        }
    }

    pub fn active(&self) -> bool {
        self.socket.is_some()
    }
}

/// `MONOTONIC_USEC=` for `RELOADING=1`: CLOCK_MONOTONIC now, in microseconds.
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// `STATUS=` text must be one line.
pub fn status_line(s: &str) -> String {
    s.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("perceptd-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            socket: Some((
                UnixDatagram::unbound().unwrap(),
                SocketAddr::from_pathname(&path).unwrap(),
            )),
            watchdog: None,
        };
        n.send("READY=1\nSTATUS=ok");
        let mut buf = [0u8; 64];
        let k = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"READY=1\nSTATUS=ok");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_usec();
        std::thread::sleep(Duration::from_millis(2));
        assert!(monotonic_usec() > a);
    }
}
