//! `doctor`'s check that the learned compressor can start: ONNX Runtime library, model and
//! tokenizer files, and a device this machine can provide.
//!
//! TEMPORARY: file discovery belongs to `crate::model` (`locate_runtime` / `locate_model_files`,
//! being written on the model branch). Until those land, [`locate`] below mirrors the layout of
//! `scripts/setup-model.sh` (`.runtime/libonnxruntime.*`, `models/minilm/{model.onnx,
//! tokenizer.json}`); when they land, replace the body of [`locate`] with calls to them and
//! delete the rest of the discovery code here.
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
    let roots = search_roots();
    let runtime = locate_runtime(cfg, &roots)?;
    let (model, tokenizer) = locate_model_files(cfg, &roots)?;
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

/// Directories the setup script may have filled: the current directory and the checkout that
/// holds this binary (`<repo>/target/<profile>/headroom`).
fn search_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Some(repo) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent()?.parent().map(Path::to_path_buf))
    {
        if !roots.contains(&repo) {
            roots.push(repo);
        }
    }
    roots
}

fn locate_runtime(cfg: &ModelConfig, roots: &[PathBuf]) -> Result<PathBuf, String> {
    let explicit = cfg
        .runtime
        .clone()
        .map(|p| (p, "model.runtime"))
        .or_else(|| {
            std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(|p| (PathBuf::from(p), "ORT_DYLIB_PATH"))
        });
    if let Some((path, from)) = explicit {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{from} = {} does not exist", path.display()))
        };
    }
    let mut looked = Vec::new();
    for root in roots {
        let dir = root.join(".runtime");
        looked.push(dir.join("libonnxruntime.*").display().to_string());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut libs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                name.is_some_and(|n| {
                    (n.starts_with("libonnxruntime.so") || n.starts_with("libonnxruntime."))
                        && (n.contains(".so") || n.ends_with(".dylib"))
                })
            })
            .collect();
        libs.sort();
        if let Some(lib) = libs.pop() {
            return Ok(lib);
        }
    }
    Err(format!(
        "no ONNX Runtime library: model.runtime and ORT_DYLIB_PATH are unset and none of {} exists",
        looked.join(", ")
    ))
}

fn locate_model_files(cfg: &ModelConfig, roots: &[PathBuf]) -> Result<(PathBuf, PathBuf), String> {
    let model = match &cfg.path {
        Some(p) if p.is_file() => p.clone(),
        Some(p) => return Err(format!("model.path = {} does not exist", p.display())),
        None => {
            let candidates: Vec<PathBuf> = roots
                .iter()
                .map(|r| r.join("models").join("minilm").join("model.onnx"))
                .collect();
            match candidates.iter().find(|p| p.is_file()) {
                Some(p) => p.clone(),
                None => {
                    let looked: Vec<String> =
                        candidates.iter().map(|p| p.display().to_string()).collect();
                    return Err(format!(
                        "no model: model.path is unset and none of {} exists",
                        looked.join(", ")
                    ));
                }
            }
        }
    };
    let tokenizer = match &cfg.tokenizer {
        Some(t) => t.clone(),
        None => model.with_file_name("tokenizer.json"),
    };
    if !tokenizer.is_file() {
        return Err(format!("tokenizer {} does not exist", tokenizer.display()));
    }
    Ok((model, tokenizer))
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
