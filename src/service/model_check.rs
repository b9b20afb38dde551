//! `doctor`'s check that the learned compressor can start: ONNX Runtime library, model and
//! tokenizer files, and a device this machine can provide.
//!
//! File discovery is the model's own (`crate::model::locate_*`), so doctor looks exactly where
//! the proxy will.
//!
//! Must never: load the runtime (a wrong library can abort the process); it only looks for files.

use crate::model::{Device, ModelConfig};
use std::path::{Path, PathBuf};

/// Files the learned compressor needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub runtime: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
}

/// Finds the runtime library and model files for `cfg`, or says what was looked for.
pub fn locate(cfg: &ModelConfig) -> Result<ModelFiles, String> {
    let runtime = crate::model::locate_runtime(cfg).map_err(|e| e.to_string())?;
    let (model, tokenizer) = crate::model::locate_model_files(cfg).map_err(|e| e.to_string())?;
    Ok(ModelFiles {
        runtime,
        model,
        tokenizer,
    })
}

/// Whether `device` can be had with `runtime` on this machine (`Ok` holds a note).
pub fn check_device(device: Device, runtime: &Path) -> Result<String, String> {
    let dir = runtime.parent().unwrap_or(Path::new("."));
    match device {
        Device::Cpu => Ok("cpu".into()),
        Device::Auto => Ok("auto (CoreML on macOS, CUDA when present, else CPU)".into()),
        Device::Coreml if cfg!(target_os = "macos") => Ok("coreml".into()),
        Device::Coreml => Err("device `coreml` (mps) needs macOS; use `cpu` or `auto`".into()),
        Device::Cuda => {
            let found = std::fs::read_dir(dir).ok().is_some_and(|entries| {
                entries.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("libonnxruntime_providers_cuda")
                })
            });
            if found {
                Ok("cuda".into())
            } else {
                Err(format!(
                    "device `cuda` needs libonnxruntime_providers_cuda beside {} \
                     (install the onnxruntime-gpu wheel and re-run scripts/setup-model.sh)",
                    runtime.display()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_paths_that_do_not_exist_are_named() {
        let cfg = ModelConfig {
            runtime: Some("/nonexistent/libonnxruntime.so".into()),
            ..ModelConfig::default()
        };
        let err = locate(&cfg).unwrap_err();
        assert!(err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    }

    #[test]
    fn explicit_files_are_found_with_tokenizer_beside_model() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libonnxruntime.so.1.32.0");
        let model = dir.path().join("model.onnx");
        std::fs::write(&lib, b"x").unwrap();
        std::fs::write(&model, b"x").unwrap();
        let cfg = ModelConfig {
            runtime: Some(lib.clone()),
            path: Some(model.clone()),
            ..ModelConfig::default()
        };
        assert!(locate(&cfg).unwrap_err().contains("tokenizer"));
        std::fs::write(dir.path().join("tokenizer.json"), b"{}").unwrap();
        let found = locate(&cfg).unwrap();
        assert_eq!((found.runtime, found.model), (lib.clone(), model));
        assert!(check_device(Device::Cuda, &lib).is_err());
        assert!(check_device(Device::Cpu, &lib).is_ok());
    }
}
