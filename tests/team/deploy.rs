//! The deployment files: the Kubernetes manifests validate offline against the bundled
//! schemas (PyPI `kubernetes-validate`, installed by scripts/setup.sh), the ConfigMap holds the
//! team config verbatim, and the image's runtime layout works: no container engine runs on
//! the test machines, so the layout the Dockerfile builds (`/opt/headroom/{bin,.runtime,
//! models}`) is staged in a temp dir and the image's entrypoint is started from there, outside
//! a container.

use super::*;
use headroom_test_support::{checkout, free_port, headroom_bin};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn validator() -> String {
    let candidates = ["kubernetes-validate"];
    for c in candidates {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c.to_string();
        }
    }
    panic!("`kubernetes-validate` is not installed: run scripts/setup.sh (pip-installs scripts/requirements.txt)");
}

#[test]
fn the_kubernetes_manifests_validate_offline_and_a_broken_one_does_not() {
    let k8s = checkout().join("deploy/k8s");
    let files: Vec<_> = ["headroom.yaml", "configmap.yaml", "redis.yaml"]
        .iter()
        .map(|f| k8s.join(f))
        .collect();
    let out = Command::new(validator())
        .arg("--strict")
        .args(&files)
        .env("no_proxy", "*")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for kind in [
        "deployment/headroom",
        "service/headroom",
        "poddisruptionbudget/headroom",
        "configmap/headroom-config",
        "deployment/redis",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}")),
            "{kind}: {text}"
        );
    }
    // The validator does catch mistakes: a probe with a misspelt field.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let good = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(
        &broken,
        good.replace("periodSeconds: 10", "periodSecond: 10"),
    )
    .unwrap();
    let out = Command::new(validator())
        .arg("--strict")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt field passed");

    // The Deployment's probes use the proxy's probe routes; the shutdown budget fits.
    for needed in [
        "path: /health/ready",
        "path: /health/live",
        "preStop",
        "terminationGracePeriodSeconds: 40",
    ] {
        assert!(good.contains(needed), "{needed}");
    }
}

#[test]
fn the_configmap_holds_the_team_config_and_the_config_is_valid() {
    let team = std::fs::read_to_string(checkout().join("deploy/headroom-team.yaml")).unwrap();
    let cm = std::fs::read_to_string(checkout().join("deploy/k8s/configmap.yaml")).unwrap();
    let (_, body) = cm
        .split_once("  headroom.yaml: |\n")
        .expect("the ConfigMap's data key");
    let unindented: String = body
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        unindented, team,
        "deploy/k8s/configmap.yaml is out of date with deploy/headroom-team.yaml"
    );
    let out = Command::new(headroom_bin())
        .args(["check", "-c"])
        .arg(checkout().join("deploy/headroom-team.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        // The fp32 export is skipped when the int8 one (preferred at load) is there.
        let fp32_spare = e.file_name() == "model.onnx" && from.join("model.int8.onnx").exists();
        if e.file_type().unwrap().is_file() && !fp32_spare {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_image_layout_starts_from_its_entrypoint_outside_a_container() {
    let root = checkout();
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    for needed in [
        "COPY --from=build /out/ /opt/headroom/",
        "USER headroom",
        "HEALTHCHECK",
        "/health/live",
        "ENTRYPOINT [\"/opt/headroom/bin/entrypoint.sh\"]",
    ] {
        assert!(dockerfile.contains(needed), "Dockerfile lacks {needed}");
    }
    // What scripts/setup-model.sh built (in this checkout or the one the crates came from).
    let cfg = headroom_model::ModelConfig::default();
    fn missing<T>(e: headroom_model::ModelError) -> T {
        panic!("the model or runtime is missing: run scripts/setup.sh (scripts/setup-model.sh builds them): {e}")
    }
    let runtime = headroom_model::locate_runtime(&cfg).unwrap_or_else(missing);
    let runtime = runtime.parent().unwrap().to_path_buf();
    let (model, _) = headroom_model::locate_model_files(&cfg).unwrap_or_else(missing);
    let minilm = model.parent().unwrap().to_path_buf();
    // Stage /opt/headroom as the image's runtime stage lays it out.
    let image = tempfile::tempdir().unwrap();
    let opt = image.path().join("opt/headroom");
    std::fs::create_dir_all(opt.join("bin")).unwrap();
    std::fs::copy(headroom_bin(), opt.join("bin/headroom")).unwrap();
    std::fs::copy(
        root.join("deploy/entrypoint.sh"),
        opt.join("bin/entrypoint.sh"),
    )
    .unwrap();
    for e in std::fs::read_dir(&runtime).unwrap() {
        let e = e.unwrap();
        if e.file_name()
            .to_string_lossy()
            .starts_with("libonnxruntime")
        {
            std::fs::create_dir_all(opt.join(".runtime")).unwrap();
            std::fs::copy(e.path(), opt.join(".runtime").join(e.file_name())).unwrap();
        }
    }
    copy_dir(&minilm, &opt.join("models/minilm"));
    let home = image.path().join("var/lib/headroom");
    std::fs::create_dir_all(&home).unwrap();

    // Without a mounted config the entrypoint says what to do.
    let out = Command::new(opt.join("bin/entrypoint.sh"))
        .env(
            "HEADROOM_CONFIG",
            image.path().join("etc/headroom/headroom.yaml"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mount one"));

    // With the team config mounted (port, Redis and stats path overridden for this machine).
    let up = FakeUpstream::start();
    let etc = image.path().join("etc/headroom");
    std::fs::create_dir_all(&etc).unwrap();
    let team = std::fs::read_to_string(root.join("deploy/headroom-team.yaml"))
        .unwrap()
        .replace("https://api.anthropic.com", &up.url())
        .replace(
            "/var/lib/headroom/stats.json",
            &home.join("stats.json").display().to_string(),
        );
    std::fs::write(etc.join("headroom.yaml"), team).unwrap();
    let port = free_port();
    let redis = headroom_test_support::services::RedisServer::start();
    let log = image.path().join("stderr.log");
    let mut child = Command::new(opt.join("bin/entrypoint.sh"))
        .current_dir(image.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("HEADROOM_CONFIG", etc.join("headroom.yaml"))
        .env("HEADROOM_PROXY_PORT", port.to_string())
        .env("HEADROOM_REDIS_URL", redis.url())
        .env("ANTHROPIC_API_KEY", "sk-ant-from-the-secret")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = request(port, "GET", "/health/ready", &[], b"")
            .map(|r| r.status)
            .ok();
        if ready == Some(200) {
            break;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!("exited {s}: {}", std::fs::read_to_string(&log).unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "not ready: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The model and runtime came from the staged layout, not from this checkout.
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("model loaded"))
        .unwrap_or_else(|| panic!("{text}"));
    let staged = opt.display().to_string();
    assert!(
        line.matches(&staged).count() >= 2,
        "model and runtime from {staged}: {line}"
    );
    // The example token of the team config opens it; the gateway's own key is used.
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = request(
        port,
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "change-me-alice"),
        ],
        body,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        up.last().unwrap().header("x-api-key"),
        Some("sk-ant-from-the-secret")
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(40);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
