//! ONNX Runtime: loading the library, building sessions with an ordered list of execution
//! providers (each failure logged, counted and skipped), warm-up.

use crate::config::{LibraryOrigin, ModelSpec, OrtLibrary, Provider, TensorrtSpec};
use crate::telemetry::Metrics;
use ort::ep::ExecutionProviderDispatch;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "cannot load the ONNX Runtime library from {path} (taken from {origin}): {reason}\n  fix: run the README's setup command (it installs the library from the PyPI wheel onnxruntime==1.31.1 to /opt/perceptd/lib), \
or set ORT_DYLIB_PATH or `runtime.onnxruntime` to a libonnxruntime.so of version 1.31 or newer"
    )]
    Library {
        path: PathBuf,
        origin: &'static str,
        reason: String,
    },
    #[error(
        "ONNX Runtime was already loaded from {loaded}; one process uses one library, so {wanted} cannot be used too"
    )]
    Conflict { loaded: PathBuf, wanted: PathBuf },
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model {model}: cannot load {path}: {reason}")]
    Model {
        model: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "model {model}: no execution provider could register and load the model ({tried}); add `cpu` to `providers`"
    )]
    NoProvider { model: String, tried: String },
}

static LOADED: OnceLock<(PathBuf, ort::environment::Environment)> = OnceLock::new();

fn origin_text(o: LibraryOrigin) -> &'static str {
    match o {
        LibraryOrigin::PipelineFile => "runtime.onnxruntime in the pipeline file",
        LibraryOrigin::EnvVar => "ORT_DYLIB_PATH",
        LibraryOrigin::Default => "the default install path",
    }
}

/// Loads the libraries in `dirs` (CUDA, cuDNN, TensorRT from the `nvidia-*` wheels or a
/// toolkit) into the process, so that the GPU providers of ONNX Runtime find them without
/// `LD_LIBRARY_PATH`. Libraries that need others are retried until no more load; returns how
/// many loaded. Loading is idempotent.
pub fn preload_libraries(dirs: &[PathBuf]) -> usize {
    let mut pending: Vec<PathBuf> = vec![];
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            tracing::warn!(folder = %d.display(), "cannot read the library folder");
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("lib") && n.contains(".so"))
            })
            .collect();
        files.sort();
        pending.extend(files);
    }
    let mut loaded = 0;
    let mut last_errors = vec![];
    // Passes until one loads nothing new: a library whose dependency is later in the list
    // loads in the next pass.
    loop {
        let before = loaded;
        last_errors.clear();
        let mut still = vec![];
        for p in pending {
            match dlopen_global(&p) {
                Ok(()) => loaded += 1,
                Err(e) => {
                    last_errors.push(e);
                    still.push(p);
                }
            }
        }
        pending = still;
        if pending.is_empty() || loaded == before {
            break;
        }
    }
    if !pending.is_empty() {
        tracing::warn!(
            unloaded = pending.len(),
            first_error = last_errors.first().map(String::as_str).unwrap_or(""),
            "some libraries in runtime.cuda_libraries did not load (a GPU provider that needs them will fail and fall back)"
        );
    }
    tracing::info!(loaded, "preloaded GPU libraries");
    loaded
}

/// [`preload_libraries`] once per process (the first list given wins).
pub fn preload_libraries_once(dirs: &[PathBuf]) {
    static DONE: OnceLock<usize> = OnceLock::new();
    if !dirs.is_empty() {
        DONE.get_or_init(|| preload_libraries(dirs));
    }
}

fn dlopen_global(p: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated path; the handle is kept for the life of the process on purpose.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if h.is_null() {
        // SAFETY: dlerror returns a thread-local C string or null.
        let e = unsafe { libc::dlerror() };
        let msg = if e.is_null() {
            "unknown error".to_string()
        } else {
            unsafe { std::ffi::CStr::from_ptr(e) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(format!("{}: {msg}", p.display()));
    }
    Ok(())
}

/// Loads the ONNX Runtime library once per process and builds the environment.
pub fn init(lib: &OrtLibrary) -> Result<(), RuntimeError> {
    if let Some((loaded, _)) = LOADED.get() {
        return if loaded == &lib.path {
            Ok(())
        } else {
            Err(RuntimeError::Conflict {
                loaded: loaded.clone(),
                wanted: lib.path.clone(),
            })
        };
    }
    let err = |reason: String| RuntimeError::Library {
        path: lib.path.clone(),
        origin: origin_text(lib.origin),
        reason,
    };
    if !lib.path.exists() {
        return Err(err("the file does not exist".into()));
    }
    let builder = ort::init_from(&lib.path).map_err(|e| err(e.to_string()))?;
    let env = builder
        .with_name("perceptd")
        .build()
        .map_err(|e| RuntimeError::Ort(e.to_string()))?;
    let _ = LOADED.set((lib.path.clone(), env));
    Ok(())
}

/// Options of one session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub model: String,
    pub providers: Vec<Provider>,
    pub device_id: i32,
    pub threads: Option<usize>,
    pub tensorrt: TensorrtSpec,
    /// Frames per call, for the TensorRT optimisation profile.
    pub batch_size: usize,
    /// The configured input size (height, width), for the TensorRT profile of dynamic inputs.
    pub input_hw: Option<(u32, u32)>,
}

impl SessionOptions {
    /// CPU only, defaults: for tools that only look at a model.
    pub fn cpu(model: &str) -> SessionOptions {
        SessionOptions {
            model: model.into(),
            providers: vec![Provider::Cpu],
            device_id: 0,
            threads: Some(1),
            tensorrt: TensorrtSpec::default(),
            batch_size: 1,
            input_hw: None,
        }
    }

    pub fn for_model(spec: &ModelSpec) -> SessionOptions {
        SessionOptions {
            model: spec.name.clone(),
            providers: spec.providers.clone(),
            device_id: spec.device_id,
            threads: spec.threads,
            tensorrt: spec.tensorrt.clone(),
            batch_size: spec.batch_size,
            input_hw: spec.input.height.zip(spec.input.width),
        }
    }
}

/// Where TensorRT engines are cached when the config does not say: systemd's cache folder,
/// else the user's.
pub fn default_engine_cache() -> PathBuf {
    if let Some(d) = std::env::var_os("CACHE_DIRECTORY") {
        // systemd may list several, separated by ':'.
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if !first.is_empty() {
            return PathBuf::from(first).join("tensorrt");
        }
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("perceptd/tensorrt");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache/perceptd/tensorrt");
    }
    PathBuf::from("/var/cache/perceptd/tensorrt")
}

/// Logs, while alive, that a long step (a TensorRT engine build) is still going, so that a
/// start that takes minutes does not look hung; the pipeline is not ready until it is dropped.
pub struct Ticker {
    done: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn start(model: &str, what: &'static str) -> Ticker {
        let done = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let d = done.clone();
        let model = model.to_string();
        let thread = std::thread::Builder::new()
            .name("ticker".into())
            .spawn(move || {
                let t0 = std::time::Instant::now();
                let (lock, cv) = &*d;
                let mut finished = lock.lock().expect("ticker lock");
                let mut wait = std::time::Duration::from_secs(10);
                loop {
                    let (g, timeout) = cv.wait_timeout(finished, wait).expect("ticker lock");
                    finished = g;
                    if *finished {
                        break;
                    }
                    if timeout.timed_out() {
                        tracing::info!(model = %model, elapsed_s = t0.elapsed().as_secs(), "{what}: still working (TensorRT engine builds take minutes the first time; later starts read the engine cache)");
                        wait = std::time::Duration::from_secs(30);
                    }
                }
                let s = t0.elapsed().as_secs_f32();
                if s > 5.0 {
                    tracing::info!(model = %model, seconds = s, "{what}: done");
                }
            })
            .ok();
        Ticker { done, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (lock, cv) = &*self.done;
        if let Ok(mut f) = lock.lock() {
            *f = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The input's name and shape, read with a plain CPU session (for the TensorRT profile).
fn input_of(path: &Path) -> Option<(String, Vec<i64>)> {
    let (_, env) = LOADED.get()?;
    let s = Session::builder(env).ok()?.commit_from_file(path).ok()?;
    let i = s.inputs().first()?;
    match i.dtype() {
        ort::value::ValueType::Tensor { shape, .. } => Some((i.name().to_string(), shape.to_vec())),
        _ => None,
    }
}

/// `name:1x3x640x640` strings of a TensorRT profile for an input with dynamic axes; `None`
/// when the input is static or a spatial axis is unknown.
pub fn trt_profile(
    name: &str,
    shape: &[i64],
    batch: [usize; 3],
    hw: Option<(u32, u32)>,
) -> Option<[String; 3]> {
    if shape.iter().all(|&d| d > 0) {
        return None;
    }
    let mut out: [String; 3] = Default::default();
    for (k, o) in out.iter_mut().enumerate() {
        let mut dims = vec![];
        for (axis, &d) in shape.iter().enumerate() {
            let v = if d > 0 {
                d as u64
            } else if axis == 0 && shape.len() == 4 {
                batch[k] as u64
            } else if axis == 1 && shape.len() == 4 {
                3
            } else if axis + 2 == shape.len() {
                hw?.0 as u64
            } else if axis + 1 == shape.len() {
                hw?.1 as u64
            } else {
                return None;
            };
            dims.push(v.to_string());
        }
        *o = format!("{name}:{}", dims.join("x"));
    }
    Some(out)
}

pub fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::Tensorrt => "tensorrt",
        Provider::Cuda => "cuda",
        Provider::Cpu => "cpu",
    }
}

fn tensorrt(path: &Path, opts: &SessionOptions) -> ExecutionProviderDispatch {
    let t = &opts.tensorrt;
    let mut ep = ort::ep::TensorRT::default()
        .with_device_id(opts.device_id)
        .with_fp16(t.fp16);
    let cache = t.engine_cache.clone().unwrap_or_else(default_engine_cache);
    match std::fs::create_dir_all(&cache) {
        Ok(()) => {
            ep = ep
                .with_engine_cache(true)
                .with_engine_cache_path(cache.display())
                .with_timing_cache(true)
                .with_timing_cache_path(cache.display());
            tracing::info!(model = %opts.model, folder = %cache.display(), "TensorRT engine cache");
        }
        Err(e) => {
            tracing::warn!(model = %opts.model, folder = %cache.display(), error = %e, "cannot create the TensorRT engine cache folder; engines will be rebuilt at every start (set tensorrt.engine_cache to a writable folder)");
        }
    }
    if let Some(mb) = t.workspace_mb {
        ep = ep.with_max_workspace_size(mb * 1024 * 1024);
    }
    let batch = t.profile.unwrap_or([1, opts.batch_size, opts.batch_size]);
    if let Some((name, shape)) = input_of(path)
        && let Some([min, opt, max]) = trt_profile(&name, &shape, batch, opts.input_hw)
    {
        tracing::info!(model = %opts.model, %min, %opt, %max, "TensorRT optimisation profile");
        ep = ep
            .with_profile_min_shapes(min)
            .with_profile_opt_shapes(opt)
            .with_profile_max_shapes(max);
    }
    ep.build()
}

fn dispatch(p: Provider, path: &Path, opts: &SessionOptions) -> ExecutionProviderDispatch {
    match p {
        Provider::Tensorrt => tensorrt(path, opts),
        Provider::Cuda => ort::ep::CUDA::default()
            .with_device_id(opts.device_id)
            .build(),
        Provider::Cpu => ort::ep::CPU::default().build(),
    }
    .error_on_failure()
}

fn builder(opts: &SessionOptions) -> Result<SessionBuilder, RuntimeError> {
    let e = |e: ort::Error<SessionBuilder>| RuntimeError::Ort(e.to_string());
    let (_, env) = LOADED
        .get()
        .ok_or_else(|| RuntimeError::Ort("the ONNX Runtime library is not loaded yet".into()))?;
    let mut b = Session::builder(env).map_err(|e| RuntimeError::Ort(e.to_string()))?;
    b = b
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(e)?;
    if let Some(t) = opts.threads {
        b = b.with_intra_threads(t).map_err(e)?;
    }
    // Spinning intra-op threads would steal the cores decode, resize and encode run on.
    b = b.with_intra_op_spinning(false).map_err(e)?;
    b = b.with_inter_threads(1).map_err(e)?;
    Ok(b)
}

/// Builds a session on the first provider that both registers and loads the model, in the
/// configured order (a CUDA library can register and still fail at load on a host without a
/// usable GPU). Returns the session and the provider in use; every provider that failed is
/// logged and counted.
pub fn build(
    path: &Path,
    opts: &SessionOptions,
    metrics: Option<&Metrics>,
) -> Result<(Session, Provider), RuntimeError> {
    let mut last_model_error = None;
    let mut reasons = vec![];
    for &p in &opts.providers {
        let mut b = builder(opts)?;
        let _ticker = (p == Provider::Tensorrt)
            .then(|| Ticker::start(&opts.model, "building the TensorRT session"));
        let attempt = dispatch(p, path, opts)
            .register(&mut b)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                b.commit_from_file(path).map_err(|e| {
                    let msg = e.to_string();
                    last_model_error = Some(msg.clone());
                    msg
                })
            });
        match attempt {
            Ok(session) => {
                if let Some(m) = metrics {
                    for q in [Provider::Tensorrt, Provider::Cuda, Provider::Cpu] {
                        m.model_provider
                            .with_label_values(&[&opts.model, provider_name(q)])
                            .set((q == p) as i64);
                    }
                }
                tracing::info!(model = %opts.model, provider = provider_name(p), "session ready");
                return Ok((session, p));
            }
            Err(e) => {
                tracing::warn!(model = %opts.model, provider = provider_name(p), error = %e, "execution provider unusable; trying the next one");
                reasons.push(format!("{}: {e}", provider_name(p)));
                if let Some(m) = metrics {
                    m.provider_fallbacks
                        .with_label_values(&[&opts.model, provider_name(p)])
                        .inc();
                }
            }
        }
    }
    // The CPU provider failing means the model itself is bad: say so, not "no provider".
    if opts.providers.contains(&Provider::Cpu)
        && let Some(reason) = last_model_error
    {
        return Err(RuntimeError::Model {
            model: opts.model.clone(),
            path: path.to_path_buf(),
            reason,
        });
    }
    Err(RuntimeError::NoProvider {
        model: opts.model.clone(),
        tried: reasons.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorrt_profiles_cover_dynamic_axes_only() {
        // Dynamic batch, fixed size.
        let p = trt_profile("images", &[-1, 3, 640, 640], [1, 4, 8], None).unwrap();
        assert_eq!(
            p,
            [
                "images:1x3x640x640".to_string(),
                "images:4x3x640x640".into(),
                "images:8x3x640x640".into()
            ]
        );
        // Static: TensorRT needs no profile.
        assert_eq!(
            trt_profile("images", &[1, 3, 640, 640], [1, 1, 1], None),
            None
        );
        // Dynamic size: from the configured input, else no profile.
        let p = trt_profile("x", &[-1, 3, -1, -1], [1, 2, 2], Some((384, 640))).unwrap();
        assert_eq!(p[2], "x:2x3x384x640");
        assert_eq!(trt_profile("x", &[-1, 3, -1, -1], [1, 2, 2], None), None);
    }

    #[test]
    fn the_engine_cache_follows_systemd_then_the_user() {
        // Only reads the environment; the process-wide variables are not changed here.
        let p = default_engine_cache();
        assert!(p.ends_with("tensorrt"), "{}", p.display());
    }
}
