//! The deployment files are checked with the tools that read them, offline:
//!
//! - `deploy/kubernetes/` (base and the example overlay): rendered with `kubectl kustomize`,
//!   validated against the Kubernetes JSON schemas with `kubernetes-validate --strict` (1.30, the
//!   oldest release with the `preStop.sleep` action, and the newest the package knows), and read
//!   back for what schemas cannot say: labels that select the pods, probes on `/healthz` and
//!   `/readyz`, a non-root read-only container without capabilities, the certificate from a
//!   read-only Secret volume, a termination grace above the drain;
//! - `deploy/systemd/agtoken.service`: `systemd-analyze verify` (no output at all: it only warns
//!   about unknown or wrong settings) and `systemd-analyze security --offline` (exposure at most
//!   2.0), and its credentials and timeouts;
//! - `compose.yaml`: `docker-compose config` (or `docker compose config`), and its secret,
//!   read-only root and stop grace.
//!
//! The Python tools live in `.venv-ci/` (`deploy/requirements-ci.txt`); the test makes the venv
//! when it is missing. `kubectl`, `systemd-analyze` and `docker-compose` must be installed
//! (`.ci/run` does): without one the test fails and says how to get it.
//! `AGTOKEN_SKIP_DEPLOY_CHECKS=1` skips these tests, loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").canonicalize().expect("workspace root")
}

fn skipped(what: &str) -> bool {
    if std::env::var("AGTOKEN_SKIP_DEPLOY_CHECKS").is_ok_and(|v| v == "1") {
        eprintln!();
        eprintln!("################################################################################");
        eprintln!("## AGTOKEN_SKIP_DEPLOY_CHECKS=1: SKIPPING the check of {what:<23}##");
        eprintln!("################################################################################");
        eprintln!();
        return true;
    }
    false
}

/// Runs `program args`, panicking with `install` when the program is missing.
fn run(program: &str, args: &[&str], install: &str) -> Output {
    run_in(program, args, install, &root(), &[])
}

fn run_in(program: &str, args: &[&str], install: &str, dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(program).args(args).current_dir(dir).envs(env.iter().copied()).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): {install}, or set AGTOKEN_SKIP_DEPLOY_CHECKS=1 to skip this check explicitly"
        )
    })
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The venv with the pinned Python tools: `.venv-ci/`, made when missing.
fn venv() -> PathBuf {
    let root = root();
    let venv = root.join(".venv-ci");
    let tool = venv.join("bin").join("kubernetes-validate");
    if !tool.exists() {
        eprintln!("deploy checks: {} missing, installing deploy/requirements-ci.txt into .venv-ci/", tool.display());
        let out =
            run("python3", &["-m", "venv", ".venv-ci"], "install Python 3 with venv (apt-get install python3-venv)");
        assert!(out.status.success(), "python3 -m venv .venv-ci failed: {}", text(&out));
        let pip = venv.join("bin").join("pip");
        let out = run(
            pip.to_str().expect("UTF-8 path"),
            &["install", "--quiet", "-r", "deploy/requirements-ci.txt"],
            "the venv has no pip",
        );
        assert!(out.status.success(), "pip install -r deploy/requirements-ci.txt failed: {}", text(&out));
    }
    venv
}

/// YAML documents (the venv's PyYAML) as JSON values.
fn yaml_documents(venv: &Path, yaml: &str) -> Vec<Value> {
    let dir = tempdir("yaml");
    let file = dir.join("in.yaml");
    std::fs::write(&file, yaml).unwrap();
    let python = venv.join("bin").join("python");
    let script = "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))";
    let out = run(python.to_str().unwrap(), &["-c", script, file.to_str().unwrap()], "the venv has no python");
    assert!(out.status.success(), "YAML does not parse: {}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
    match serde_json::from_slice(&out.stdout).expect("JSON from PyYAML") {
        Value::Array(docs) => docs,
        other => panic!("not a list: {other}"),
    }
}

/// A fresh folder of its own (the tests run in parallel).
fn tempdir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("agtoken-deploy-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind} expected, found {}", found.len());
    found[0]
}

/// Every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a label map");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)?["value"].as_str()
}

/// The checks a schema cannot make, on one rendering.
fn check_rendering(name: &str, docs: &[Value]) {
    let deployment = of_kind(docs, "Deployment");
    let service = of_kind(docs, "Service");
    let pdb = of_kind(docs, "PodDisruptionBudget");
    let hpa = of_kind(docs, "HorizontalPodAutoscaler");
    let config_map = of_kind(docs, "ConfigMap");
    let spec = &deployment["spec"];
    let pod = &spec["template"]["spec"];
    let pod_labels = &spec["template"]["metadata"]["labels"];
    assert!(selects(&spec["selector"]["matchLabels"], pod_labels), "{name}: the Deployment selects its own pods");
    assert!(selects(&service["spec"]["selector"], pod_labels), "{name}: the Service selects the pods");
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"], pod_labels), "{name}: the PDB selects the pods");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment", "{name}");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"], "{name}: HPA target");
    let min_available = pdb["spec"]["minAvailable"].as_i64().expect("minAvailable");
    assert!(
        hpa["spec"]["minReplicas"].as_i64().unwrap() > min_available,
        "{name}: with minReplicas <= minAvailable a node drain could never evict a pod"
    );

    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
    assert!(pod["securityContext"]["runAsUser"].as_i64().unwrap() > 0, "{name}: non-root uid");
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{name}");
    assert_eq!(pod["automountServiceAccountToken"], false, "{name}: the server needs no API token");

    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{name}");
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]), "{name}");
    assert!(sc["capabilities"].get("add").is_none(), "{name}: no capability added");
    for (kind, what) in [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")] {
        assert!(c["resources"][kind][what].is_string(), "{name}: resources.{kind}.{what}");
    }

    // Probes on the server's routes, on a port the container declares; the Service too.
    let ports: Vec<&str> = c["ports"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{name}: {probe}");
        assert!(ports.contains(&c[probe]["httpGet"]["port"].as_str().unwrap()), "{name}: {probe} port");
    }
    let target = service["spec"]["ports"][0]["targetPort"].as_str().expect("a named targetPort");
    assert!(ports.contains(&target), "{name}: Service targetPort {target} is a container port");

    // The certificate: APP_CERTIFICATE_FILE is a file of a read-only Secret volume.
    let cert_file = env_value(c, "APP_CERTIFICATE_FILE").expect("APP_CERTIFICATE_FILE");
    assert!(c["env"].as_array().unwrap().iter().all(|e| e["name"] != "APP_CERTIFICATE"), "{name}: no inline secret");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| Path::new(cert_file).starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("{name}: no volume mounted at {cert_file}"));
    assert_eq!(mount["readOnly"], true, "{name}");
    let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == mount["name"]).expect("volume");
    let secret = &volume["secret"];
    let file_in_volume = Path::new(cert_file).strip_prefix(mount["mountPath"].as_str().unwrap()).unwrap();
    assert!(
        secret["items"]
            .as_array()
            .expect("secret items")
            .iter()
            .any(|i| Path::new(i["path"].as_str().unwrap()) == file_in_volume),
        "{name}: the Secret volume holds {}",
        file_in_volume.display()
    );
    let mode = secret["defaultMode"].as_i64().expect("defaultMode");
    assert_eq!(mode & 0o007, 0, "{name}: the certificate is not readable by others (mode {mode:o})");

    // The app id from the generated ConfigMap, referenced by its hashed name.
    let cm_name = config_map["metadata"]["name"].as_str().unwrap();
    assert!(
        c["envFrom"].as_array().unwrap().iter().any(|e| e["configMapRef"]["name"] == cm_name),
        "{name}: envFrom names the rendered ConfigMap {cm_name}"
    );
    let app_id = config_map["data"]["APP_ID"].as_str().expect("APP_ID");
    assert!(app_id.len() == 32 && app_id.bytes().all(|b| b.is_ascii_hexdigit()), "{name}: APP_ID {app_id:?}");

    // Shutdown: preStop sleep + drain + 1 s of runtime shutdown fit in the grace period.
    let drain: i64 = env_value(c, "AGTOKEN_SHUTDOWN_GRACE").expect("AGTOKEN_SHUTDOWN_GRACE").parse().unwrap();
    let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"].as_i64().unwrap_or(0);
    let grace = pod["terminationGracePeriodSeconds"].as_i64().expect("terminationGracePeriodSeconds");
    assert!(pre_stop + drain + 1 < grace, "{name}: {pre_stop} + {drain} + 1 s must stay below {grace} s");
}

#[test]
fn kubernetes_manifests_render_validate_and_hold_together() {
    if skipped("the Kubernetes files") {
        return;
    }
    let venv = venv();
    let validate = venv.join("bin").join("kubernetes-validate");
    for (name, dir, kinds) in
        [("base", "deploy/kubernetes/base", 5), ("example overlay", "deploy/kubernetes/overlays/example", 6)]
    {
        let out = run(
            "kubectl",
            &["kustomize", dir],
            "install kubectl (it renders with its built-in kustomize; the machine image has it from google-cloud-cli)",
        );
        assert!(out.status.success(), "kubectl kustomize {dir} failed: {}", text(&out));
        let yaml = String::from_utf8(out.stdout).unwrap();
        let rendered = tempdir(&name.replace(' ', "-")).join("rendered.yaml");
        std::fs::write(&rendered, &yaml).unwrap();
        for version in ["1.30.0", "1.37.0"] {
            let out = run(
                validate.to_str().unwrap(),
                &["--strict", "--kubernetes-version", version, rendered.to_str().unwrap()],
                "deploy/requirements-ci.txt into .venv-ci",
            );
            let report = text(&out);
            assert!(out.status.success(), "{name}: kubernetes-validate --strict {version}:\n{report}");
            assert_eq!(report.matches(" passed for resource ").count(), kinds, "{name} {version}:\n{report}");
        }
        let docs = yaml_documents(&venv, &yaml);
        assert_eq!(docs.len(), kinds, "{name}");
        check_rendering(name, &docs);
        let _ = std::fs::remove_dir_all(rendered.parent().unwrap());
    }
}

/// The example overlay changes what it says it changes.
#[test]
fn the_example_overlay_sets_namespace_image_and_app() {
    if skipped("the Kubernetes overlay") {
        return;
    }
    let venv = venv();
    let out = run("kubectl", &["kustomize", "deploy/kubernetes/overlays/example"], "install kubectl");
    assert!(out.status.success(), "{}", text(&out));
    let docs = yaml_documents(&venv, &String::from_utf8(out.stdout).unwrap());
    for doc in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_eq!(doc["metadata"]["namespace"], "agtoken", "{}", doc["kind"]);
    }
    let deployment = of_kind(&docs, "Deployment");
    assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example.com/agtoken:0.1.0");
    assert_eq!(of_kind(&docs, "ConfigMap")["data"]["APP_ID"], "0123456789abcdef0123456789abcdef");
    assert_eq!(of_kind(&docs, "ConfigMap")["data"]["RUST_LOG"], "info", "merged, not replaced");
    assert_eq!(of_kind(&docs, "HorizontalPodAutoscaler")["spec"]["maxReplicas"], 20);
    assert_eq!(of_kind(&docs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
}

/// `Key=value` settings of a unit file (the last one wins, as in systemd for single values).
fn unit_setting<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).next_back()
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    if skipped("the systemd unit") {
        return;
    }
    let unit = std::fs::read_to_string(root().join("deploy/systemd/agtoken.service")).unwrap();
    // verify checks that ExecStart names an executable: point it at the binary under test.
    let exec = unit_setting(&unit, "ExecStart").expect("ExecStart");
    let binary = exec.split_whitespace().next().unwrap();
    let dir = tempdir("systemd");
    let copy = dir.join("agtoken.service");
    std::fs::write(&copy, unit.replace(binary, env!("CARGO_BIN_EXE_agtoken"))).unwrap();
    let install = "install systemd (apt-get install systemd; `systemd-analyze` needs no running systemd)";
    let out = run_in("systemd-analyze", &["verify", "agtoken.service"], install, &dir, &[]);
    assert!(out.status.success(), "systemd-analyze verify: {}", text(&out));
    assert_eq!(text(&out).trim(), "", "systemd-analyze verify warns (it exits 0 on unknown or wrong settings)");
    let out = run_in(
        "systemd-analyze",
        &["security", "--offline=true", "--threshold=20", "agtoken.service"],
        install,
        &dir,
        &[],
    );
    let report = text(&out);
    assert!(out.status.success(), "systemd-analyze security: exposure above 2.0:\n{report}");
    assert!(report.contains("Overall exposure level for agtoken.service"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);

    // The certificate as a credential, read by the server from $CREDENTIALS_DIRECTORY.
    assert_eq!(unit_setting(&unit, "DynamicUser"), Some("yes"));
    let credential = unit_setting(&unit, "LoadCredential").expect("LoadCredential");
    let (id, _) = credential.split_once(':').expect("ID:PATH");
    assert!(
        unit.lines().any(|l| l == format!("Environment=APP_CERTIFICATE_FILE=%d/{id}")),
        "APP_CERTIFICATE_FILE names the credential {id} in %d"
    );
    assert!(unit_setting(&unit, "Environment").is_some());
    assert!(!unit.contains("APP_CERTIFICATE="), "no certificate in the unit");
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
    ] {
        assert_eq!(unit_setting(&unit, key), Some(value), "{key}");
    }
    // Stop: the default drain (30 s) + 1 s fits in TimeoutStopSec.
    let stop: u64 = unit_setting(&unit, "TimeoutStopSec").expect("TimeoutStopSec").parse().unwrap();
    assert!(30 + 1 < stop, "TimeoutStopSec {stop} must exceed the 30 s drain");
}

#[test]
fn compose_file_is_valid() {
    if skipped("compose.yaml") {
        return;
    }
    let venv = venv();
    let root = root();
    let env = [("APP_ID", "970CA35de60c44645bbae8a215061b33")];
    let install = "install Debian's docker-compose (apt-get install docker-compose) or the compose plugin";
    // docker-compose (Debian, v1) or the compose plugin of a newer docker.
    let out = match Command::new("docker-compose").arg("version").output() {
        Ok(_) => run_in("docker-compose", &["-f", "compose.yaml", "config"], install, &root, &env),
        Err(_) => run_in("docker", &["compose", "-f", "compose.yaml", "config"], install, &root, &env),
    };
    assert!(out.status.success(), "compose config: {}", text(&out));
    let docs = yaml_documents(&venv, &String::from_utf8(out.stdout).unwrap());
    let service = &docs[0]["services"]["agtoken"];
    assert_eq!(service["read_only"], true);
    assert_eq!(service["cap_drop"], serde_json::json!(["ALL"]));
    assert_eq!(service["environment"]["APP_ID"], "970CA35de60c44645bbae8a215061b33");
    assert_eq!(service["environment"]["APP_CERTIFICATE_FILE"], "/run/secrets/app-certificate");
    assert!(service["environment"].get("APP_CERTIFICATE").is_none());
    let secret = &service["secrets"][0];
    assert!(secret == "app-certificate" || secret["source"] == "app-certificate", "{secret}");
    let drain: u64 = service["environment"]["AGTOKEN_SHUTDOWN_GRACE"].as_str().unwrap().parse().unwrap();
    let stop = service["stop_grace_period"].as_str().expect("stop_grace_period");
    let stop: u64 = stop.trim_end_matches('s').parse().expect("seconds");
    assert!(drain + 1 < stop, "AGTOKEN_SHUTDOWN_GRACE {drain} + 1 s must stay below stop_grace_period {stop} s");
    // Without APP_ID the file refuses to start, naming it.
    let out = match Command::new("docker-compose").arg("version").output() {
        Ok(_) => run_in("docker-compose", &["-f", "compose.yaml", "config"], install, &root, &[("APP_ID", "")]),
        Err(_) => run_in("docker", &["compose", "-f", "compose.yaml", "config"], install, &root, &[("APP_ID", "")]),
    };
    assert!(!out.status.success() && text(&out).contains("APP_ID"), "{}", text(&out));
}
