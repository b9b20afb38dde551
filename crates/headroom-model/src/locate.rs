//! Finding the ONNX Runtime library and the model files on disk. Owns the search order and the
//! list of places looked at; never loads anything (that is `runtime.rs`).

use super::{ModelConfig, ModelError};
use std::path::{Path, PathBuf};

/// Directory the setup script copies the runtime library into, relative to a search root.
pub const RUNTIME_DIR: &str = ".runtime";
/// Directory the setup script writes the default model into, relative to a search root.
pub const DEFAULT_MODEL_DIR: &str = "models/minilm";

/// Where project-local files are searched for, in order: the current directory, the
/// executable's directory and up to three of its parents (`target/release/headroom` sits three
/// below the checkout), then the checkout this crate was built from.
pub fn search_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !roots.contains(&p) {
            roots.push(p);
        }
    };
    if let Ok(cwd) = std::env::current_dir() {
        push(cwd);
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for dir in exe_dir.ancestors().take(4) {
            push(dir.to_path_buf());
        }
    }
    // This crate sits at `crates/headroom-model` of the checkout.
    if let Some(checkout) = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2) {
        push(checkout.to_path_buf());
    }
    roots
}

/// Finds `libonnxruntime`: `model.runtime` → `ORT_DYLIB_PATH` → `<root>/.runtime/` for each
/// search root. A configured path that does not exist is an error (not skipped): it is
/// almost certainly a typo the user wants to hear about.
pub fn locate_runtime(cfg: &ModelConfig) -> Result<PathBuf, ModelError> {
    let env = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty());
    locate_runtime_in(
        cfg.runtime.as_deref(),
        env.as_deref().map(Path::new),
        &search_roots(),
    )
}

pub(crate) fn locate_runtime_in(
    configured: Option<&Path>,
    env: Option<&Path>,
    roots: &[PathBuf],
) -> Result<PathBuf, ModelError> {
    let mut looked = Vec::new();
    for (source, path) in [("model.runtime", configured), ("ORT_DYLIB_PATH", env)] {
        match path {
            Some(p) if p.is_file() => return Ok(p.to_path_buf()),
            Some(p) if p.is_dir() => match runtime_in_dir(p) {
                Some(found) => return Ok(found),
                None => {
                    looked.push(format!(
                        "{source} = {} (no libonnxruntime in it)",
                        p.display()
                    ));
                    return Err(ModelError::RuntimeNotFound { looked });
                }
            },
            Some(p) => {
                looked.push(format!("{source} = {} (does not exist)", p.display()));
                return Err(ModelError::RuntimeNotFound { looked });
            }
            None => looked.push(format!("{source} (not set)")),
        }
    }
    for root in roots {
        let dir = root.join(RUNTIME_DIR);
        if let Some(found) = runtime_in_dir(&dir) {
            return Ok(found);
        }
        looked.push(format!("{}/", dir.display()));
    }
    Err(ModelError::RuntimeNotFound { looked })
}

/// The runtime library in `dir`: the unversioned name if present, else the highest versioned
/// one (the PyPI wheel ships only `libonnxruntime.so.1.NN.N`).
fn runtime_in_dir(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join(format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    if plain.is_file() {
        return Some(plain);
    }
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = versioned_runtime_name(&name)?;
            Some((version, e.path()))
        })
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, p)| p)
}

/// `libonnxruntime.so.1.32.0` or `libonnxruntime.1.32.0.dylib` → `[1, 32, 0]`.
fn versioned_runtime_name(name: &str) -> Option<Vec<u32>> {
    let rest = name.strip_prefix("libonnxruntime.")?;
    let version = rest
        .strip_prefix("so.")
        .or_else(|| rest.strip_suffix(".dylib"))?;
    version.split('.').map(|p| p.parse().ok()).collect()
}

/// Model files tried under `models/minilm/` of each search root, in order.
const DEFAULT_MODEL_FILES: [&str; 2] = ["model.int8.onnx", "model.onnx"];

/// Finds the model and its tokenizer: `model.path` (default `models/minilm/model.int8.onnx`,
/// else `models/minilm/model.onnx`, under each search root) and `model.tokenizer` (default `tokenizer.json` beside the model).
pub fn locate_model_files(cfg: &ModelConfig) -> Result<(PathBuf, PathBuf), ModelError> {
    locate_model_files_in(cfg, &search_roots())
}

pub(crate) fn locate_model_files_in(
    cfg: &ModelConfig,
    roots: &[PathBuf],
) -> Result<(PathBuf, PathBuf), ModelError> {
    let model = match &cfg.path {
        Some(p) if p.is_file() => p.clone(),
        Some(p) => {
            return Err(ModelError::ModelFilesNotFound {
                what: "model (model.onnx)",
                looked: vec![format!("model.path = {} (does not exist)", p.display())],
            })
        }
        None => {
            // The int8 copy first: the setup script keeps it only when it ranks like fp32.
            let candidates: Vec<PathBuf> = roots
                .iter()
                .flat_map(|r| DEFAULT_MODEL_FILES.map(|f| r.join(DEFAULT_MODEL_DIR).join(f)))
                .collect();
            match candidates.iter().find(|p| p.is_file()) {
                Some(p) => p.clone(),
                None => {
                    let mut looked = vec!["model.path (not set)".to_string()];
                    looked.extend(candidates.iter().map(|p| p.display().to_string()));
                    return Err(ModelError::ModelFilesNotFound {
                        what: "model (model.onnx)",
                        looked,
                    });
                }
            }
        }
    };
    let tokenizer = match &cfg.tokenizer {
        Some(p) => p.clone(),
        None => model.parent().map_or_else(
            || PathBuf::from("tokenizer.json"),
            |d| d.join("tokenizer.json"),
        ),
    };
    if !tokenizer.is_file() {
        let source = if cfg.tokenizer.is_some() {
            "model.tokenizer"
        } else {
            "beside the model"
        };
        return Err(ModelError::ModelFilesNotFound {
            what: "tokenizer (tokenizer.json)",
            looked: vec![format!(
                "{source}: {} (does not exist)",
                tokenizer.display()
            )],
        });
    }
    Ok((model, tokenizer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_names_parse_for_linux_and_macos() {
        assert_eq!(
            versioned_runtime_name("libonnxruntime.so.1.32.0"),
            Some(vec![1, 32, 0])
        );
        assert_eq!(
            versioned_runtime_name("libonnxruntime.1.24.1.dylib"),
            Some(vec![1, 24, 1])
        );
        assert_eq!(
            versioned_runtime_name("libonnxruntime_providers_shared.so"),
            None
        );
    }

    #[test]
    fn picks_the_highest_versioned_library_in_the_runtime_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(RUNTIME_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime_providers_shared.so",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let found = locate_runtime_in(None, None, &[tmp.path().to_path_buf()]).unwrap();
        assert_eq!(found, dir.join("libonnxruntime.so.1.32.0"));
    }

    #[test]
    fn missing_runtime_error_names_every_place_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let roots = vec![tmp.path().join("a"), tmp.path().join("b")];
        let err = locate_runtime_in(None, None, &roots)
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.runtime (not set)"), "{err}");
        assert!(err.contains("ORT_DYLIB_PATH (not set)"), "{err}");
        for r in &roots {
            assert!(
                err.contains(&r.join(RUNTIME_DIR).display().to_string()),
                "{err}"
            );
        }
        assert!(err.contains("scripts/setup-model.sh"), "{err}");
    }

    #[test]
    fn a_configured_runtime_that_does_not_exist_is_reported_not_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(RUNTIME_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libonnxruntime.so.1.32.0"), b"").unwrap();
        let bad = tmp.path().join("nope.so");
        let err = locate_runtime_in(Some(&bad), None, &[tmp.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.runtime ="), "{err}");
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn model_files_default_to_models_minilm_under_a_root_with_the_tokenizer_beside() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(DEFAULT_MODEL_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.onnx"), b"").unwrap();
        std::fs::write(dir.join("tokenizer.json"), b"").unwrap();
        let roots = vec![tmp.path().join("elsewhere"), tmp.path().to_path_buf()];
        let (m, t) = locate_model_files_in(&ModelConfig::default(), &roots).unwrap();
        assert_eq!(m, dir.join("model.onnx"));
        assert_eq!(t, dir.join("tokenizer.json"));
    }

    #[test]
    fn missing_model_error_lists_the_default_locations() {
        let tmp = tempfile::tempdir().unwrap();
        let err = locate_model_files_in(&ModelConfig::default(), &[tmp.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("models/minilm/model.onnx"), "{err}");
        assert!(err.contains("scripts/setup-model.sh"), "{err}");
    }
}
