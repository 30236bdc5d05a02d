//! Logging: `tracing` to stderr, `key=value` fields. Under systemd (stderr connected to the
//! journal, as `JOURNAL_STREAM` says) each line starts with its syslog priority (`<3>` error ...
//! `<7>` debug), which journald turns into the entry's priority (`journalctl -p warning` works),
//! and carries no timestamp or colour (journald stamps entries itself). `RUST_LOG` sets the
//! filter and then wins over the config's `log.level`.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// The installed subscriber's filter, changeable at run time.
pub struct Logs {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: it wins over the config.
    from_env: bool,
    pub journald: bool,
}

/// `<N>` syslog priority prefix before the usual line.
struct Priority<F>(F);

impl<S, N, F> FormatEvent<S, N> for Priority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let p = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{p}>")?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM=dev:inode`).
fn stderr_is_journal() -> bool {
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM").ok().and_then(|v| {
        let (d, i) = v.split_once(':')?;
        Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?))
    }) else {
        return false;
    };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the stat buffer we own.
    let ok = unsafe { libc::fstat(2, &mut st) } == 0;
    ok && st.st_dev == dev && st.st_ino == ino
}

/// Installs the global subscriber (once, at the start of `main`).
pub fn init() -> Logs {
    let env = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let filter = env
        .as_deref()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let journald = stderr_is_journal();
    let out = if journald {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .event_format(Priority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colour codes only on a terminal: log files get plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed()
    };
    tracing_subscriber::registry().with(filter).with(out).init();
    Logs {
        handle,
        from_env: env.is_some(),
        journald,
    }
}

impl Logs {
    /// Sets the filter from the config, unless `RUST_LOG` was given.
    pub fn set_level(&self, filter: &str) {
        if self.from_env {
            tracing::debug!(
                config = filter,
                "log.level ignored: RUST_LOG is set and wins"
            );
            return;
        }
        match EnvFilter::try_new(filter) {
            Ok(f) => {
                if self.handle.reload(f).is_ok() {
                    tracing::debug!(filter, "log level set");
                }
            }
            Err(e) => tracing::warn!(filter, error = %e, "invalid log filter ignored"),
        }
    }
}

impl crate::daemon::LogLevel for Logs {
    fn set(&self, filter: &str) {
        self.set_level(filter);
    }
}
