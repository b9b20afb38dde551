//! A missing ONNX Runtime library is a clear error naming where it looked and the fix. Kept in
//! its own test binary: once a process has loaded the runtime it reuses it.

use headroom::model::{ModelConfig, ModelError};
use headroom::model_glue::load;
use std::path::PathBuf;

#[test]
fn missing_runtime_library_is_a_clear_error_naming_the_place_and_the_fix() {
    let missing = PathBuf::from("/nonexistent/headroom-test/libonnxruntime.so.1.32.0");
    let cfg = ModelConfig {
        runtime: Some(missing.clone()),
        ..ModelConfig::default()
    };
    let err = match load(&cfg) {
        Err(e) => e,
        Ok(_) => panic!("a missing runtime library must not load"),
    };
    assert!(matches!(err, ModelError::RuntimeNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(msg.contains("scripts/setup-model.sh"), "{msg}");
    assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");
}

#[test]
fn unset_runtime_search_lists_config_env_and_project_directories() {
    let err = headroom::model::locate_runtime(&ModelConfig {
        runtime: Some(PathBuf::from("/nonexistent/dir/")),
        ..ModelConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("model.runtime = /nonexistent/dir/"), "{err}");
}
