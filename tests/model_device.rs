//! Device choice on this CPU-only Linux machine: an explicit accelerator is a clear error,
//! `auto` falls back to the CPU and says why. (On macOS CoreML may be available, so these
//! expectations do not hold there.)
#![cfg(not(target_os = "macos"))]

use headroom_test_support::model as model_support;

use headroom::model::{Device, ModelError};
use headroom::model_glue::load;
use model_support::{ready, tiny_classifier};

fn explicit_device_error(device: Device) -> String {
    match load(&tiny_classifier(device)) {
        Err(e @ ModelError::DeviceUnavailable { .. }) => {
            eprintln!("{e}");
            e.to_string()
        }
        Err(other) => panic!("expected DeviceUnavailable, got {other}"),
        Ok(loaded) => panic!("{device:?} unexpectedly loaded on {:?}", loaded.device),
    }
}

#[test]
fn explicit_cuda_without_a_gpu_runtime_fails_with_the_reason_and_the_fix() {
    if !ready(&tiny_classifier(Device::Cpu)) {
        return;
    }
    let msg = explicit_device_error(Device::Cuda);
    assert!(msg.starts_with("device `cuda` is not available"), "{msg}");
    assert!(msg.contains("onnxruntime-gpu"), "{msg}");
    assert!(msg.contains("model.device"), "{msg}");
}

#[test]
fn explicit_coreml_off_macos_fails_with_the_reason() {
    if !ready(&tiny_classifier(Device::Cpu)) {
        return;
    }
    let msg = explicit_device_error(Device::Coreml);
    assert!(msg.starts_with("device `coreml` is not available"), "{msg}");
    assert!(msg.contains("macOS"), "{msg}");
}

#[test]
fn auto_falls_back_to_the_cpu_and_reports_what_it_tried() {
    if !ready(&tiny_classifier(Device::Cpu)) {
        return;
    }
    let loaded = load(&tiny_classifier(Device::Auto)).expect("auto loads on the CPU");
    assert_eq!(loaded.device, Device::Cpu);
    assert!(
        loaded.fallbacks.iter().any(|f| f.starts_with("cuda: ")),
        "{:?}",
        loaded.fallbacks
    );
}

#[test]
fn explicit_cpu_loads_without_fallbacks() {
    if !ready(&tiny_classifier(Device::Cpu)) {
        return;
    }
    let loaded = load(&tiny_classifier(Device::Cpu)).expect("cpu loads");
    assert_eq!(loaded.device, Device::Cpu);
    assert!(loaded.fallbacks.is_empty());
}
