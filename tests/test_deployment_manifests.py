"""The cluster deployment shape: examples/kubernetes/, examples/configs/cluster.config.yml, Dockerfile.

No cluster and no image build here, so every check is static, but each one is a way the deployment
can really break: RBAC wider (or narrower) than the server and the job pods need, a ServiceAccount
that no binding or pod refers to, a pygeoapi configuration our own models reject at start-up, a
server reachable around the auth proxy, a credential committed by mistake, a job image without the
``argo_progress`` papermill engine.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "examples" / "kubernetes"
CLUSTER_CONFIG = ROOT / "examples" / "configs" / "cluster.config.yml"
DOCKERFILE = ROOT / "Dockerfile"

SERVER_SA, SERVER_ROLE = "argo-papermill", "argo-papermill-server"
JOB_SA, JOB_ROLE = "argo-papermill-job", "argo-papermill-job"
SERVER_RULES = {
    ("argoproj.io", "workflows", verb) for verb in ("create", "get", "list", "watch", "patch", "delete")
} | {
    ("argoproj.io", "workflowtemplates", "get"),
    ("argoproj.io", "workflowtemplates", "list"),
    ("", "pods", "get"),
    ("", "pods", "list"),
    ("", "pods", "watch"),  # the Argo Server's log endpoint watches pods (found on the real Argo Server)
    ("", "pods/log", "get"),
}
JOB_RULES = {("argoproj.io", "workflowtaskresults", "create"), ("argoproj.io", "workflowtaskresults", "patch")}


# ---------------------------------------------------------------------------------------------------
# loading


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _objects() -> list[tuple[str, dict]]:
    out = []
    for path in _manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                out.append((path.name, doc))
    return out


OBJECTS = _objects()


def _by_kind(kind: str) -> list[dict]:
    return [obj for _, obj in OBJECTS if obj.get("kind") == kind]


def _one(kind: str, name: str) -> dict:
    found = [obj for obj in _by_kind(kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name!r}, found {len(found)}"
    return found[0]


def _rules(role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role.get("rules", [])
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def _kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _server_deployment() -> dict:
    return _one("Deployment", "argo-papermill")


def _server_container() -> dict:
    (container,) = _server_deployment()["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


def _embedded_config_text() -> str:
    return _one("ConfigMap", "argo-papermill-config")["data"]["config.yml"]


def _pygeoapi_config(env: dict[str, str] | None = None) -> dict:
    """The embedded configuration as pygeoapi loads it (``${VAR:-default}`` expanded from ``env``)."""
    from pygeoapi.util import yaml_load

    names = set(re.findall(r"\$\{(\w+)", _embedded_config_text()))
    saved = {name: os.environ.pop(name, None) for name in names}
    try:
        os.environ.update(env or {})
        return yaml_load(io.StringIO(_embedded_config_text()))
    finally:
        for name in names:
            os.environ.pop(name, None)
            if saved[name] is not None:
                os.environ[name] = saved[name]


def _deployment_env_values() -> dict[str, str]:
    return {name: item["value"] for name, item in _env(_server_container()).items() if "value" in item}


# ---------------------------------------------------------------------------------------------------
# every object


def test_every_object_is_identifiable():
    assert OBJECTS, "no manifests found"
    for filename, obj in OBJECTS:
        assert isinstance(obj.get("apiVersion"), str) and obj["apiVersion"], filename
        assert isinstance(obj.get("kind"), str) and obj["kind"], filename
        assert obj.get("metadata", {}).get("name"), f"{filename}: {obj['kind']} without metadata.name"
    names = Counter((obj["kind"], obj["metadata"]["name"]) for _, obj in OBJECTS)
    assert [key for key, n in names.items() if n > 1] == [], "duplicate objects"


def _lost_field(given, kept, path: str = "") -> str | None:
    """The first field of ``given`` that did not survive the round trip into ``kept``."""
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return path or "(root)"
        for key, value in given.items():
            if key not in kept:
                return path + key
            lost = _lost_field(value, kept[key], f"{path}{key}.")
            if lost:
                return lost
    elif isinstance(given, list):
        for i, (a, b) in enumerate(zip(given, kept)):
            lost = _lost_field(a, b, f"{path}{i}.")
            if lost:
                return lost
    return None


def _commented_objects() -> list[dict]:
    return [
        doc for path in _manifest_files() for doc in _commented_documents(path.read_text()) if isinstance(doc, dict)
    ]


def test_every_field_is_a_kubernetes_field():
    """Round trip through the kubernetes client's typed models: a misspelt field (say
    readOnlyRootFileSystem) is dropped by the models and reported here, instead of being silently
    ignored, or refused, by a cluster. Required fields missing make the models raise."""
    import json as _json

    from kubernetes.client import ApiClient

    api = ApiClient()
    checked = 0
    for obj in [o for _, o in OBJECTS] + _commented_objects():
        model = api.deserialize(_json.dumps(obj), f"V1{obj['kind']}", "application/json")
        lost = _lost_field(obj, api.sanitize_for_serialization(model))
        assert lost is None, f"{obj['kind']} {obj['metadata']['name']}: unknown field {lost}"
        checked += 1
    assert checked == len(OBJECTS) + len(_commented_objects()) and len(_commented_objects()) >= 7


def test_kustomization_lists_exactly_the_manifests():
    resources = _kustomization()["resources"]
    assert all((K8S / r).is_file() for r in resources), "a listed resource does not exist"
    applied = {p.name for p in _manifest_files()} - {"secrets.example.yaml"}
    assert set(resources) == applied
    assert "secrets.example.yaml" not in resources
    assert _kustomization()["namespace"] == _one("Namespace", "argo-papermill")["metadata"]["name"]


def test_no_cluster_wide_rbac_and_no_wildcards():
    assert _by_kind("ClusterRole") == [] and _by_kind("ClusterRoleBinding") == []
    for role in _by_kind("Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), f"{role['metadata']['name']}: '*' in {field}"
            assert "resourceNames" not in rule or rule["resourceNames"]
            assert "nonResourceURLs" not in rule


# ---------------------------------------------------------------------------------------------------
# RBAC


def test_server_role_grants_exactly_what_the_server_uses():
    assert _rules(_one("Role", SERVER_ROLE)) == SERVER_RULES


def test_secrets_rule_is_offered_only_as_a_comment():
    text = (K8S / "server-rbac.yaml").read_text()
    for role in _by_kind("Role"):
        assert not any(resource == "secrets" for _, resource, _ in _rules(role)), role["metadata"]["name"]
    commented = [line for line in text.splitlines() if "secrets" in line and "resources" in line]
    assert commented and all(line.lstrip().startswith("#") for line in commented)
    assert "auto_mount_secrets" in text


def test_job_role_only_reports_task_results():
    assert _rules(_one("Role", JOB_ROLE)) == JOB_RULES


def _bindings_of(sa: str) -> set[str]:
    return {
        b["roleRef"]["name"]
        for b in _by_kind("RoleBinding")
        if any(s["kind"] == "ServiceAccount" and s["name"] == sa for s in b["subjects"])
    }


def test_each_account_is_bound_to_its_own_role_only():
    service_accounts = {sa["metadata"]["name"] for sa in _by_kind("ServiceAccount")}
    roles = {r["metadata"]["name"] for r in _by_kind("Role")}
    for binding in _by_kind("RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] in roles
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount" and subject["name"] in service_accounts
            assert "namespace" not in subject or subject["namespace"] == _kustomization()["namespace"]
    assert _bindings_of(SERVER_SA) == {SERVER_ROLE}
    assert _bindings_of(JOB_SA) == {JOB_ROLE}


def test_server_and_job_pods_use_the_bound_accounts():
    assert _server_deployment()["spec"]["template"]["spec"]["serviceAccountName"] == SERVER_SA
    processor = _pygeoapi_config()["resources"]["execute-notebook"]["processor"]
    assert processor["job_service_account"] == JOB_SA


# ---------------------------------------------------------------------------------------------------
# the pygeoapi configuration


def test_configmap_embeds_the_cluster_config_verbatim():
    assert _embedded_config_text() == CLUSTER_CONFIG.read_text(), (
        "examples/kubernetes/configmap.yaml and examples/configs/cluster.config.yml differ: copy the file "
        "into data.config.yml (indented by four spaces)"
    )


def test_embedded_config_is_valid_for_pygeoapi():
    from pygeoapi.config import validate_config

    assert validate_config(_pygeoapi_config())
    assert validate_config(_pygeoapi_config(_deployment_env_values()))


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_every_variable_of_the_config_is_set_by_the_deployment():
    raw = yaml.safe_load(_embedded_config_text())  # without pygeoapi's expansion; comments dropped
    names = {name for text in _strings(raw) for name in re.findall(r"\$\{(\w+)", text)}
    assert names, "expected ${VAR} references in the config"
    assert names <= set(_deployment_env_values())
    config = _pygeoapi_config(_deployment_env_values())
    assert config["server"]["url"] == _deployment_env_values()["PYGEOAPI_SERVER_URL"]


def test_manager_section_is_accepted_by_our_model():
    manager_config = pytest.importorskip("argo_papermill.manager_config", reason="manager config model not built yet")
    manager = manager_config.load_manager_config(_pygeoapi_config()["server"]["manager"])
    assert manager.name == "argo_papermill.ArgoManager"
    assert manager.backend == "kubernetes"
    assert manager.namespace == _kustomization()["namespace"]
    assert manager.results.path_map, "the server must know where to read result notebooks"
    assert all(url.startswith("s3://") for url in manager.results.path_map.values())
    options = {k.lower() for k in manager.results.storage_options}
    assert not options & {"key", "secret", "token", "password", "aws_secret_access_key"}


def test_manager_model_rejects_a_typo_in_the_same_section():
    """Guards the test above: the model must be strict, or accepting our section proves nothing."""
    manager_config = pytest.importorskip("argo_papermill.manager_config", reason="manager config model not built yet")
    from argo_papermill.errors import ConfigurationError

    section = dict(_pygeoapi_config()["server"]["manager"], namespce="x")
    with pytest.raises(ConfigurationError, match="namespce"):
        manager_config.load_manager_config(section)


def test_processor_section_is_accepted_by_our_model():
    config = pytest.importorskip("argo_papermill.config", reason="processor config model not built yet")
    from argo_papermill import contract
    from argo_papermill.errors import ConfigurationError

    section = _pygeoapi_config()["resources"]["execute-notebook"]["processor"]
    processor = config.load_processor_config(section)
    assert processor.allowed_images_regex is None, "the cluster example must refuse custom images"
    assert processor.job_service_account == JOB_SA
    assert processor.progress_engine, "the job image carries the argo_progress engine"
    manager = _pygeoapi_config()["server"]["manager"]
    if processor.s3 is not None:  # the server reads what the pods write below the mount
        assert processor.s3.mount_path in manager["results"]["path_map"]
        assert processor.output_directory.startswith(processor.s3.mount_path + "/")
        assert manager["results"]["path_map"][processor.s3.mount_path] == f"s3://{processor.s3.bucket_name}"
    assert processor.output_directory.startswith(contract.JOB_HOME + "/")
    with pytest.raises(ConfigurationError, match="defualt_image"):
        config.load_processor_config(dict(section, defualt_image="x"))


def test_processor_resource_does_not_allow_internal_callbacks():
    resource = _pygeoapi_config()["resources"]["execute-notebook"]
    assert not resource.get("allow_internal_requests") and not resource["processor"].get("allow_internal_requests")


# ---------------------------------------------------------------------------------------------------
# the server Deployment and Service


def test_server_runs_as_non_root_with_a_read_only_root():
    pod = _server_deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert not sc.get("privileged")
        assert "memory" in container["resources"]["limits"]


def test_server_probes_ask_pygeoapi_itself():
    container = _server_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/conformance", probe
        assert get["port"] in ports, probe
    config = _pygeoapi_config()
    assert ports["http"] == config["server"]["bind"]["port"]
    assert _env(_server_container()).get("PORT", {"value": "5000"})["value"] == str(ports["http"])


def test_server_mounts_its_config_and_writes_only_to_volumes():
    container = _server_container()
    pod = _server_deployment()["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    env = _deployment_env_values()
    config_path = Path(env["PYGEOAPI_CONFIG"])
    mount = mounts[str(config_path.parent)]
    assert mount.get("readOnly") is True
    assert volumes[mount["name"]]["configMap"]["name"] == "argo-papermill-config"
    assert config_path.name in _one("ConfigMap", "argo-papermill-config")["data"]
    openapi = Path(env["PYGEOAPI_OPENAPI"])  # generated at start: must be on a writable volume
    writable = [path for path, m in mounts.items() if "emptyDir" in volumes[m["name"]] and not m.get("readOnly")]
    assert any(openapi.is_relative_to(path) for path in writable)


def test_server_secret_references_are_optional_and_declared_as_examples():
    examples = _commented_secrets()
    names = {s["metadata"]["name"] for s in examples}
    for item in _env(_server_container()).values():
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref.get("optional") is True, item["name"]
            assert ref["name"] in names
            example = next(s for s in examples if s["metadata"]["name"] == ref["name"])
            assert ref["key"] in example["stringData"]


def test_service_reaches_the_server_port():
    service = _one("Service", "argo-papermill")
    assert service["spec"]["type"] == "ClusterIP", "the server must not be exposed beside the auth proxy"
    labels = _server_deployment()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {p["name"] for p in _server_container()["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


# ---------------------------------------------------------------------------------------------------
# the auth proxy


def test_only_the_auth_proxy_reaches_the_server():
    proxy = _one("Deployment", "argo-papermill-auth-proxy")
    proxy_labels = proxy["spec"]["template"]["metadata"]["labels"]
    server_labels = _server_deployment()["spec"]["template"]["metadata"]["labels"]
    (policy,) = [
        p
        for p in _by_kind("NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items() <= server_labels.items()
    ]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    assert set(source) == {"podSelector"}, "only pods, no namespaces or IP blocks"
    assert source["podSelector"]["matchLabels"].items() <= proxy_labels.items()
    assert not source["podSelector"]["matchLabels"].items() <= server_labels.items()
    server_port = _server_container()["ports"][0]["containerPort"]
    assert [p["port"] for p in rule["ports"]] == [server_port]


def test_auth_proxy_forwards_to_the_server_service_and_requires_login():
    proxy = _one("Deployment", "argo-papermill-auth-proxy")
    (container,) = proxy["spec"]["template"]["spec"]["containers"]
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"])
    service = _one("Service", "argo-papermill")
    assert args["upstream"].rstrip("/") == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    assert args["provider"] and args["email-domain"] != "*"
    assert "skip-auth-routes" not in args and "skip-auth-regex" not in args
    manager_wait = pytest.importorskip("argo_papermill.manager_config").ManagerConfig.model_fields["sync_timeout"].default
    assert float(args["upstream-timeout"].removesuffix("s")) > manager_wait
    secret_refs = {
        e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert secret_refs <= {s["metadata"]["name"] for s in _commented_secrets()}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False


# ---------------------------------------------------------------------------------------------------
# secrets and credentials


def _commented_documents(text: str) -> list[dict]:
    """YAML documents written as comments: a run of '# ' lines starting at '# apiVersion:'."""
    docs, block = [], None
    for line in text.splitlines():
        if line.startswith("# apiVersion:"):
            if block:
                docs.append(block)
            block = [line[2:]]
        elif block is not None and re.match(r"# ( |\w+:)", line):
            block.append(line[2:])
        elif block is not None:
            docs.append(block)
            block = None
    if block:
        docs.append(block)
    return [yaml.safe_load("\n".join(b)) for b in docs]


def _commented_secrets() -> list[dict]:
    return [
        doc
        for path in _manifest_files()
        for doc in _commented_documents(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "Secret"
    ]


def test_no_secret_is_applied():
    assert _by_kind("Secret") == [], "Secrets are created by the operator, never committed"


def test_secret_examples_hold_placeholders_only():
    secrets = _commented_secrets()
    assert len(secrets) >= 5
    for secret in secrets:
        assert "data" not in secret, "base64 data hides what is committed; use stringData placeholders"
        for key, value in (secret.get("stringData") or {}).items():
            assert re.fullmatch(r"<[a-z0-9-]+>", value), f"{secret['metadata']['name']}.{key} is not a placeholder"


def test_every_referenced_secret_has_an_example():
    names = {s["metadata"]["name"] for s in _commented_secrets()}
    processor = _pygeoapi_config()["resources"]["execute-notebook"]["processor"]
    referenced = {processor["s3"]["secret_name"]}
    repo = yaml.safe_load(_one("ConfigMap", "artifact-repositories")["data"]["default-v1"])
    referenced |= {repo["s3"]["accessKeySecret"]["name"], repo["s3"]["secretKeySecret"]["name"]}
    assert referenced <= names


def _entropy(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


CREDENTIAL_PATTERNS = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."),  # a JWT
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # credentials in a URL
    re.compile(r"(?i)(password|secret|token|access_?key)[ \t]*[:=][ \t]*['\"]?(?!<)[A-Za-z0-9+/=_-]{8,}"),
]


def _deployment_texts() -> list[tuple[str, str]]:
    paths = [*K8S.glob("*.yaml"), CLUSTER_CONFIG, DOCKERFILE, ROOT / "docker" / "server-entrypoint.sh"]
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in paths if p.exists()]


def test_no_real_looking_credential_anywhere():
    for name, text in _deployment_texts():
        for pattern in CREDENTIAL_PATTERNS:
            match = pattern.search(text)
            assert match is None, f"{name}: looks like a credential: {match.group(0)!r}"
        for token in re.findall(r"[A-Za-z0-9+/_=-]{24,}", text):
            if "/" in token.strip("/") and _entropy(token) < 4.5:
                continue  # a path
            assert _entropy(token) < 4.2, f"{name}: high-entropy string {token!r}"


def test_credential_scan_catches_what_it_should():
    """The scanner above is only worth something if it fires on real-looking values."""
    samples = [
        "aws_access_key_id: AKIAABCDEFGHIJKLMNOP",
        "password: hunter2hunter2",
        "url: https://user:pa55word@git.example.org/repo.git",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ]
    for sample in samples:
        assert any(p.search(sample) for p in CREDENTIAL_PATTERNS), sample
    assert _entropy("q8Xv2LmZ4tR7pW1sN9kB3yH6cF0jD5gA") >= 4.2
    assert not any(p.search("password: <s3-secret-access-key>") for p in CREDENTIAL_PATTERNS)


def test_artifact_repository_references_secrets_only():
    cm = _one("ConfigMap", "artifact-repositories")
    key = cm["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"]
    repo = yaml.safe_load(cm["data"][key])
    s3 = repo["s3"]
    assert s3["bucket"] and s3["endpoint"]
    assert "://" not in s3["endpoint"], "Argo wants host[:port]; the scheme comes from `insecure`"
    for ref in ("accessKeySecret", "secretKeySecret"):
        assert set(s3[ref]) == {"name", "key"}
    assert not {"accessKey", "secretKey", "accessKeyId", "secretAccessKey"} & set(s3)


# ---------------------------------------------------------------------------------------------------
# kustomize and the WorkflowTemplate


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) not installed")
def test_kustomize_builds_into_one_namespace():
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(built) == len(OBJECTS)
    namespace = _kustomization()["namespace"]
    for obj in built:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]
    server = next(o for o in built if o["kind"] == "Deployment" and o["metadata"]["name"] == "argo-papermill")
    # kustomize's labels must not leak into selectors (a selector change breaks `kubectl apply` upgrades)
    assert server["spec"]["selector"] == _server_deployment()["spec"]["selector"]


RENDER_COMMAND = "argo-papermill templates render --config examples/configs/cluster.config.yml"


def test_workflow_template_rendering_is_documented_beside_the_manifests():
    assert RENDER_COMMAND in (K8S / "kustomization.yaml").read_text()
    assert RENDER_COMMAND in (ROOT / "docs" / "deployment.md").read_text()
    checked_in = ROOT / "workflow_templates" / "papermill-notebook.yaml"
    if checked_in.exists():
        docs = [d for d in yaml.safe_load_all(checked_in.read_text()) if d]
        assert [d["kind"] for d in docs] == ["WorkflowTemplate"]
        assert "namespace" not in docs[0]["metadata"], "the operator chooses the namespace when applying"


def test_template_rendered_for_the_cluster_is_the_one_the_server_accepts():
    """The operator renders with the config's defaults; the server expands the same ${VAR}s from the
    Deployment. Both must describe one template, or every execution meets a 503 mismatch."""
    config = pytest.importorskip("argo_papermill.config", reason="processor config model not built yet")
    templates = pytest.importorskip("argo_papermill.templates", reason="template rendering not built yet")
    operator = config.load_processor_config(_pygeoapi_config()["resources"]["execute-notebook"]["processor"])
    server_cfg = _pygeoapi_config(_deployment_env_values())["resources"]["execute-notebook"]["processor"]
    server = config.load_processor_config(server_cfg)
    manifest = templates.template_manifest(operator)
    templates.check_installed(manifest, server)
    assert manifest["kind"] == "WorkflowTemplate"
    assert manifest["metadata"]["name"] == server.workflow_template_name
    accounts = {t.get("serviceAccountName") for t in manifest["spec"]["templates"]} - {None}
    accounts |= {manifest["spec"].get("serviceAccountName")} - {None}
    assert accounts == {JOB_SA}, "workflow pods must run as the account bound to the job Role"
    # and the check is real: the checked-in default rendering is refused by this server
    with pytest.raises(templates.TemplateMismatchError):
        templates.check_installed(templates.template_manifest(config.load_processor_config({})), server)


# ---------------------------------------------------------------------------------------------------
# Dockerfile


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> [(INSTRUCTION, arguments)], continuation lines joined, ARG defaults applied to FROM."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    args: dict[str, str] = {}
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ARG" and current is None:
            name, _, default = rest.partition("=")
            args[name] = default
        elif instruction == "FROM":
            image, _, name = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest).partition(" AS ")
            current = name.strip() or f"stage{len(stages)}"
            stages[current] = [("FROM", image.strip())]
        elif current is not None:
            stages[current].append((instruction, rest.strip()))
    return stages


def _run_text(stage: list[tuple[str, str]]) -> str:
    return "\n".join(rest for ins, rest in stage if ins == "RUN")


def test_dockerfile_has_server_and_job_targets_on_python_312_slim():
    stages = _stages()
    assert {"server", "job"} <= set(stages)
    for name in ("server", "job", "build"):
        assert stages[name][0] == ("FROM", "python:3.12-slim"), name


def test_job_image_runs_as_jovyan():
    job = _stages()["job"]
    users = [rest for ins, rest in job if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert users[-1] == "1000:100"
    run = _run_text(job)
    assert re.search(r"useradd[^\n]*--uid 1000[^\n]*--gid 100[^\n]*jovyan", run)
    assert "--home-dir /home/jovyan" in run
    env = " ".join(rest for ins, rest in job if ins == "ENV")
    assert "HOME=/home/jovyan" in env
    assert ("WORKDIR", "/home/jovyan") in job


def test_server_image_runs_as_non_root():
    users = [rest for ins, rest in _stages()["server"] if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    pod = _server_deployment()["spec"]["template"]["spec"]["securityContext"]
    assert users[-1] == f"{pod['runAsUser']}:{pod['runAsGroup']}"


def test_job_image_installs_the_package_with_the_papermill_engine():
    from argo_papermill import contract

    stages = _stages()
    build_run = _run_text(stages["build"])
    assert re.search(r"pip wheel --no-deps --wheel-dir /wheels \.", build_run)
    assert any(ins == "COPY" and "argo_papermill" in rest for ins, rest in stages["build"])
    job = stages["job"]
    assert ("COPY", "--from=build /wheels /wheels") in job
    run = _run_text(job)
    assert "pip install --no-deps /wheels/*.whl" in run
    for package in ("papermill", "ipykernel", "scrapbook", "six"):
        assert re.search(rf"pip install [^\n&]*\b{package}\b", run), package
    assert f"get_engine('{contract.PAPERMILL_ENGINE}')" in run, "the build must prove the engine loads"
    # the entry point the engine lookup relies on is declared by setup.py
    setup = (ROOT / "setup.py").read_text()
    match = re.search(r"[\"']papermill\.engine[\"']\s*:\s*\[\s*[\"'](\w+)\s*=\s*([\w.]+):(\w+)", setup)
    assert match and match.group(1) == contract.PAPERMILL_ENGINE
    module = ROOT / (match.group(2).replace(".", "/") + ".py")
    if not module.exists():
        pytest.skip(f"{match.group(2)} not written yet")
    tree = ast.parse(module.read_text())
    assert match.group(3) in {n.name for n in tree.body if isinstance(n, ast.ClassDef)}


def test_git_and_s3fs_are_in_the_job_image_when_steps_default_to_it():
    """git-checkout and s3-mount run in the job image unless their own image is configured."""
    run = _run_text(_stages()["job"])
    assert re.search(r"apt-get install[^\n]*\bgit\b", run)
    assert re.search(r"apt-get install[^\n]*\bs3fs\b", run)


def _job_pip_requirements() -> list[str]:
    run = _run_text(_stages()["job"])
    first = re.search(r"pip install ((?:\"[^\"]+\"|[\w.-]+)(?: +(?:\"[^\"]+\"|[\w.-]+))*)", run).group(1)
    return [item.strip('"') for item in first.split()]


def _distribution_closure(requirements: list[str]) -> set[str]:
    """Names of the distributions pip installs for ``requirements``, from this environment's metadata."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            sub = Requirement(spec)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub)
    return seen


def _module_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported (not inside functions, TYPE_CHECKING or try/except ImportError)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(nodes, package: str) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    found.add(f"{base}.{node.module}" if node.module else base)
                    if not node.module:
                        found.update(f"{base}.{a.name}" for a in node.names)
                else:
                    found.add(node.module)
                    found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body, package)
                    visit(node.orelse, package)
            elif isinstance(node, ast.Try):
                guarded = any("ImportError" in ast.unparse(h.type or ast.Name("x")) for h in node.handlers)
                if not guarded:
                    visit(node.body, package)

    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = ".".join(parts[:-1])  # a module's package; for a package's __init__, the package itself
    visit(tree.body, package)
    return found


def _module_file(name: str) -> Path | None:
    base = ROOT / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def test_job_package_imports_only_what_the_job_image_installs():
    """The job image installs this package with --no-deps: the engine's import closure must stay lean."""
    job_dir = ROOT / "argo_papermill" / "job"
    entry = [p for p in job_dir.glob("*.py")]
    if not entry:
        pytest.skip("argo_papermill/job/ not written yet")
    installed = _distribution_closure(_job_pip_requirements())
    providers = metadata.packages_distributions()
    todo = [ROOT / "argo_papermill" / "__init__.py", job_dir / "__init__.py", *entry]
    done: set[Path] = set()
    missing: list[str] = []
    while todo:
        path = todo.pop()
        if path in done or not path.exists():
            continue
        done.add(path)
        for module in _module_level_imports(path):
            top = module.split(".")[0]
            if top == "argo_papermill":
                parts = module.split(".")
                for i in range(2, len(parts) + 1):  # importing a.b.c imports a.b and a.b.c
                    found = _module_file(".".join(parts[:i]))
                    if found:
                        todo.append(found)
            elif top in sys.stdlib_module_names or top == "__future__":
                continue
            else:
                dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(top, [])}
                if not dists & installed:
                    missing.append(f"{path.relative_to(ROOT)} imports {module}")
    assert missing == [], f"not installed in the job image: {missing}"


def test_dockerignore_lets_every_copied_path_in():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    ]

    def excluded(path: str) -> bool:
        verdict = False
        parts = path.split("/")
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p, pat.removeprefix("**/")) for p in prefixes):
                verdict = not negate
        return verdict

    copied = []
    for stage in _stages().values():
        for ins, rest in stage:
            if ins == "COPY" and not rest.startswith("--from"):
                copied.extend(rest.split()[:-1])
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not excluded(source), f".dockerignore keeps {source} out of the build context"
    assert excluded("tests/test_deployment_manifests.py") and excluded(".git/config")
    assert excluded("argo_papermill/__pycache__/x.pyc")


def test_server_entrypoint_serves_the_wsgi_app_that_exists():
    server = _stages()["server"]
    env = " ".join(rest for ins, rest in server if ins == "ENV")
    wsgi = re.search(r"WSGI_APP=([\w.]+):(\w+)", env)
    assert wsgi, "the server image names its WSGI app"
    script = (ROOT / "docker" / "server-entrypoint.sh").read_text()
    assert "pygeoapi openapi generate" in script and "exec gunicorn" in script
    assert os.access(ROOT / "docker" / "server-entrypoint.sh", os.X_OK)
    app = _module_file(wsgi.group(1))
    if app is None:
        pytest.skip(f"{wsgi.group(1)} not written yet")
    tree = ast.parse(app.read_text())
    names = {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign)) for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    lazy = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    if lazy:  # a module-level __getattr__ (PEP 562) that answers the name; gunicorn uses getattr()
        names |= {c.value for c in ast.walk(lazy[0]) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    assert wsgi.group(2) in names, f"{wsgi.group(1)} defines no {wsgi.group(2)}"


# ---------------------------------------------------------------------------------------------------
# the server image's start script, with the cluster configuration, against a fake Kubernetes API:
# every API call the server makes must be allowed by its Role


def _rbac_attributes(method: str, path: str, query: dict) -> tuple[str, str, str] | None:
    """(apiGroup, resource, verb) of a request, as the API server's RBAC authorizer sees it."""
    custom = re.match(r"^/apis/([^/]+)/[^/]+(?:/namespaces/[^/]+)?/([^/]+)(?:/([^/]+))?(?:/([^/]+))?$", path)
    core = re.match(r"^/api/v1(?:/namespaces/[^/]+)?/([^/]+)(?:/([^/]+))?(?:/([^/]+))?$", path)
    if custom:
        group, resource, name, sub = custom.groups()
    elif core:
        group, (resource, name, sub) = "", core.groups()
    else:
        return None
    if sub:
        resource = f"{resource}/{sub}"
    watch = query.get("watch", ["false"])[0] in ("true", "1")
    verb = {
        "GET": "watch" if watch else ("get" if name else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }[method]
    return group, resource, verb


def test_rbac_attributes_follow_the_api_servers_rules():
    assert _rbac_attributes("GET", "/apis/argoproj.io/v1alpha1/namespaces/n/workflows", {"watch": ["true"]}) == (
        "argoproj.io", "workflows", "watch")
    assert _rbac_attributes("GET", "/apis/argoproj.io/v1alpha1/namespaces/n/workflows", {}) == (
        "argoproj.io", "workflows", "list")
    assert _rbac_attributes("DELETE", "/apis/argoproj.io/v1alpha1/namespaces/n/workflows/w", {}) == (
        "argoproj.io", "workflows", "delete")
    assert _rbac_attributes("GET", "/api/v1/namespaces/n/pods/p/log", {}) == ("", "pods/log", "get")
    assert _rbac_attributes("GET", "/api/v1/namespaces/n/secrets", {}) == ("", "secrets", "list")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_server_image_start_script_serves_the_cluster_config_within_its_role(tmp_path):
    """Runs docker/server-entrypoint.sh (OpenAPI generation, then gunicorn with the WSGI app) with the
    cluster configuration, its manager pointed at a fake Kubernetes API over HTTP, and walks a job
    through execute, status, list, logs and dismiss. Each API call is then checked against the Role."""
    import json as _json
    import time
    import urllib.error
    import urllib.request

    fake_kube = pytest.importorskip("fakes.kube", reason="the fake Kubernetes API (tests/fakes) is not there")
    config_mod = pytest.importorskip("argo_papermill.config", reason="processor config model not built yet")
    templates = pytest.importorskip("argo_papermill.templates", reason="template rendering not built yet")
    pytest.importorskip("argo_papermill.app", reason="the WSGI app is not built yet")
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("gunicorn is not installed beside this Python")

    namespace = _kustomization()["namespace"]
    token = "fake-service-account-token"
    httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=token))
    server = None
    try:
        env_values = _deployment_env_values()
        config = _pygeoapi_config(env_values)
        processor = config_mod.load_processor_config(config["resources"]["execute-notebook"]["processor"])
        template = templates.template_manifest(processor)
        template["metadata"]["namespace"] = namespace
        fake.put(template, plural="workflowtemplates")

        # what differs from the pod: the API address and token (in the pod: the service account),
        # and a local folder standing in for the bucket
        manager = config["server"]["manager"]
        manager["kubernetes"] = {"server": kube_url, "token": token}
        manager["request_timeout"] = 5
        # the pod's filesystem: a read-only root (readOnlyRootFilesystem) with the /tmp emptyDir writable,
        # emulated with bubblewrap where it is installed; the config stands in for the ConfigMap mount
        sandbox = shutil.which("bwrap") is not None
        pod_tmp = tmp_path / "pod-tmp"
        (pod_tmp / "results").mkdir(parents=True)
        (pod_tmp / "config").mkdir()
        in_pod = Path("/tmp") if sandbox else pod_tmp
        manager["results"] = {"path_map": {processor.s3.mount_path: str(in_pod / "results")}, "storage_options": {}}
        port = _free_port()
        config["server"]["url"] = f"http://127.0.0.1:{port}"
        (pod_tmp / "config" / "config.yml").write_text(yaml.safe_dump(config))

        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": "/" if sandbox else str(tmp_path),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYGEOAPI_CONFIG": str(in_pod / "config" / "config.yml"),
            "PYGEOAPI_OPENAPI": str(in_pod / "pygeoapi" / "openapi.yml"),
            "PORT": str(port),
            "WSGI_WORKERS": "1",
            "WSGI_APP": re.search(r"WSGI_APP=(\S+)", DOCKERFILE.read_text()).group(1),
        }
        command = ["sh", str(ROOT / "docker" / "server-entrypoint.sh")]
        if sandbox:
            command = [
                "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/dev/shm",
                "--bind", str(pod_tmp), "/tmp",
                # the checkout and its venv may themselves live under /tmp (CI clones): keep them visible
                "--ro-bind", str(ROOT), str(ROOT), "--ro-bind", sys.prefix, sys.prefix,
                "--chdir", "/", "--die-with-parent", *command,
            ]
        log = (tmp_path / "server.log").open("w")
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"

        def call(method: str, path: str, body: dict | None = None, headers: dict | None = None):
            data = _json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(base + path, data=data, method=method, headers={
                "Content-Type": "application/json", **(headers or {})})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    return resp.status, dict(resp.headers), resp.read()
            except urllib.error.HTTPError as err:
                return err.code, dict(err.headers), err.read()

        deadline = time.time() + 90
        while True:  # the startupProbe's view: /conformance answers once the app is up
            try:
                if call("GET", "/conformance")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.time() < deadline, "server did not start: " + (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.5)

        status, headers, body = call(
            "POST", "/processes/execute-notebook/execution",
            {"inputs": {"notebook": f"{processor.s3.mount_path}/notebooks/hello.ipynb"}},
            {"Prefer": "respond-async"},
        )
        assert status == 201, body
        job_id = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        (workflow,) = fake.workflows(namespace)
        assert workflow["spec"]["workflowTemplateRef"]["name"] == processor.workflow_template_name
        name = workflow["metadata"]["name"]
        fake.add_pod(namespace, name, {"workflows.argoproj.io/workflow": name}, {"papermill": "cell 1\n", "main": ""})

        assert call("GET", f"/jobs/{job_id}")[0] == 200
        assert call("GET", "/jobs?limit=5")[0] == 200
        status, _, body = call("GET", f"/jobs/{job_id}/logs")
        assert status in (200, 404), body
        status, _, body = call("DELETE", f"/jobs/{job_id}")
        assert status == 200, body
        assert call("GET", f"/jobs/{job_id}")[0] == 404
    finally:
        if server is not None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        httpd.shutdown()
        httpd.server_close()

    used = {attrs for method, path, query, _ in list(fake.requests) if (attrs := _rbac_attributes(method, path, query))}
    role = _rules(_one("Role", SERVER_ROLE))
    assert used - role == set(), f"the server made calls its Role forbids: {sorted(used - role)}"
    # the Role is not wider than needed for the core of a job's life (workflowtemplates get/list stay
    # granted for the installed-template check, pods get for logs by pod name)
    core = {("argoproj.io", "workflows", v) for v in ("create", "get", "list", "patch", "delete")}
    assert core <= used, f"expected the job's life to exercise {sorted(core - used)}"
    print("RBAC used:", sorted(used), "granted but unused:", sorted(role - used))


def test_every_subpackage_reaches_the_wheel_the_images_install():
    """Both images install the wheel built by setup.py's find_packages: a folder of modules without
    __init__.py, or a data file setup.py does not declare, would be missing in the images only."""
    setup = (ROOT / "setup.py").read_text()
    assert 'find_packages(include=["argo_papermill", "argo_papermill.*"])' in setup
    for folder in [ROOT / "argo_papermill", *(ROOT / "argo_papermill").rglob("*")]:
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")):
            assert (folder / "__init__.py").exists(), f"{folder.relative_to(ROOT)} has no __init__.py"
    declared = set(re.findall(r"package_data=\{\"argo_papermill\": \[([^\]]*)\]", setup)[0].replace('"', "").split(", "))
    data = {
        p.relative_to(ROOT / "argo_papermill").as_posix()
        for p in (ROOT / "argo_papermill").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert all(any(fnmatch.fnmatch(f, pattern) for pattern in declared) for f in data), data - declared
