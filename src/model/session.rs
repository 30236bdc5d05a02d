//! ONNX Runtime: loading the library, building sessions with an ordered list of execution
//! providers (each failure logged, counted and skipped), warm-up.

use crate::config::{LibraryOrigin, OrtLibrary, Provider};
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
}

pub fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::Tensorrt => "tensorrt",
        Provider::Cuda => "cuda",
        Provider::Cpu => "cpu",
    }
}

fn dispatch(p: Provider, device_id: i32) -> ExecutionProviderDispatch {
    match p {
        Provider::Tensorrt => ort::ep::TensorRT::default()
            .with_device_id(device_id)
            .build(),
        Provider::Cuda => ort::ep::CUDA::default().with_device_id(device_id).build(),
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
        let attempt = dispatch(p, opts.device_id)
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
