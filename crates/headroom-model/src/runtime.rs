//! ONNX Runtime's process-wide environment and session building with device (execution
//! provider) choice. Owns the one `ort::init_from` call of the process; never decides what a
//! model means (that is `embedder.rs` / `classifier.rs`).

use super::locate::locate_runtime;
use super::{Device, ModelConfig, ModelError};
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The loaded runtime library and its environment. ONNX Runtime allows one environment per
/// process, and a dynamically loaded library cannot be swapped: a config reload reuses this.
struct LoadedRuntime {
    path: PathBuf,
    env: Environment,
}

static RUNTIME: Mutex<Option<LoadedRuntime>> = Mutex::new(None);

/// The process's ONNX Runtime environment, loading the library on first use.
/// Later calls return the same environment; a different `model.runtime` only logs a warning
/// (changing the library needs a restart).
pub fn environment(cfg: &ModelConfig) -> Result<(Environment, PathBuf), ModelError> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = slot.as_ref() {
        if let Some(wanted) = cfg.runtime.as_deref() {
            if !same_file(wanted, &rt.path) {
                tracing::warn!(
                    loaded = %rt.path.display(),
                    configured = %wanted.display(),
                    "model.runtime changed; ONNX Runtime is loaded once per process, restart to switch"
                );
            }
        }
        return Ok((rt.env.clone(), rt.path.clone()));
    }
    let path = locate_runtime(cfg)?;
    let load_err = |message: String| ModelError::RuntimeLoad {
        path: path.clone(),
        message,
    };
    let env = ort::init_from(&path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("headroom")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    tracing::info!(runtime = %path.display(), "loaded ONNX Runtime");
    *slot = Some(LoadedRuntime {
        path: path.clone(),
        env: env.clone(),
    });
    Ok((env, path))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// A session and the device it actually runs on.
pub struct BuiltSession {
    pub session: Session,
    pub device: Device,
    /// Accelerators `auto` tried and could not use, with the reason (empty otherwise).
    pub fallbacks: Vec<String>,
}

/// Builds a session for `model` on `device`. An explicit accelerator that cannot be registered
/// is an error; `auto` tries CoreML (macOS), then CUDA, then settles on the CPU, logging what
/// it got and why the others failed.
pub fn build_session(
    env: &Environment,
    model: &Path,
    device: Device,
    threads: usize,
) -> Result<BuiltSession, ModelError> {
    let candidates: Vec<Device> = match device {
        Device::Auto => auto_candidates(),
        explicit => vec![explicit],
    };
    let mut fallbacks = Vec::new();
    for candidate in candidates {
        match session_on(env, model, candidate, threads) {
            Ok(session) => {
                if device == Device::Auto && !fallbacks.is_empty() {
                    tracing::warn!(
                        device = candidate.as_str(),
                        tried = %fallbacks.join("; "),
                        "model.device auto: no accelerator available, running on the CPU"
                    );
                } else {
                    tracing::info!(device = candidate.as_str(), model = %model.display(), "model session ready");
                }
                return Ok(BuiltSession {
                    session,
                    device: candidate,
                    fallbacks,
                });
            }
            Err(SessionFailure::Device(reason)) if device == Device::Auto => {
                fallbacks.push(format!("{}: {reason}", candidate.as_str()));
            }
            Err(SessionFailure::Device(reason)) => {
                return Err(ModelError::DeviceUnavailable {
                    device: candidate.as_str(),
                    reason: with_device_hint(candidate, &reason),
                })
            }
            Err(SessionFailure::Model(message)) => {
                return Err(ModelError::Session {
                    path: model.to_path_buf(),
                    message,
                })
            }
        }
    }
    // `auto_candidates` always ends with the CPU, which only fails with `SessionFailure::Model`.
    Err(ModelError::DeviceUnavailable {
        device: device.as_str(),
        reason: fallbacks.join("; "),
    })
}

fn auto_candidates() -> Vec<Device> {
    let mut v = Vec::with_capacity(3);
    if cfg!(target_os = "macos") {
        v.push(Device::Coreml);
    }
    v.push(Device::Cuda);
    v.push(Device::Cpu);
    v
}

fn with_device_hint(device: Device, reason: &str) -> String {
    let hint = match device {
        Device::Cuda => {
            "CUDA needs an NVIDIA GPU, its driver, CUDA 12/cuDNN 9 and the runtime from \
             `pip install onnxruntime-gpu` (point model.runtime or ORT_DYLIB_PATH at its library)"
        }
        Device::Coreml => "CoreML needs macOS and the runtime from the macOS onnxruntime wheel",
        Device::Cpu | Device::Auto => "",
    };
    if hint.is_empty() {
        reason.to_string()
    } else {
        let reason = reason.trim().trim_end_matches('.').trim_end();
        format!("{reason}. {hint}; or set model.device to cpu or auto")
    }
}

enum SessionFailure {
    /// The execution provider could not be registered.
    Device(String),
    /// The model could not be loaded (bad file, unsupported operator, ...).
    Model(String),
}

fn session_on(
    env: &Environment,
    model: &Path,
    device: Device,
    threads: usize,
) -> Result<Session, SessionFailure> {
    let model_err = |e: &dyn std::fmt::Display| SessionFailure::Model(e.to_string());
    let mut builder = Session::builder(env)
        .map_err(|e| model_err(&e))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| model_err(&e))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| model_err(&e))?
        .with_inter_threads(1)
        .map_err(|e| model_err(&e))?
        // Memory: no pre-packed second copy of the weights, no arena or planned buffers that
        // keep a batch's peak allocated after it ran (measured in README "Measured").
        .with_prepacking(false)
        .map_err(|e| model_err(&e))?
        .with_memory_pattern(false)
        .map_err(|e| model_err(&e))?;
    let provider = match device {
        Device::Cuda => Some(ort::ep::CUDA::default().build().error_on_failure()),
        Device::Coreml => Some(ort::ep::CoreML::default().build().error_on_failure()),
        Device::Cpu | Device::Auto => {
            Some(ort::ep::CPU::default().with_arena_allocator(false).build())
        }
    };
    if let Some(provider) = provider {
        builder = builder
            .with_execution_providers([provider])
            .map_err(|e| SessionFailure::Device(e.to_string()))?;
    }
    builder.commit_from_file(model).map_err(|e| {
        // An accelerator that registered but cannot run the graph is still a device failure.
        if device == Device::Cpu || device == Device::Auto {
            model_err(&e)
        } else {
            SessionFailure::Device(e.to_string())
        }
    })
}
