"""The Kubernetes manifests under deploy/kubernetes/, checked offline.

The kustomization is rendered by a small renderer here (it is kept plain enough for one:
`namespace`, `resources`, `images`), compared with `kubectl kustomize` where kubectl is
installed, and every object is validated against the Kubernetes JSON schemas that
kubernetes-validate ships. The Prometheus Operator's custom resources are not in those
schemas; their shape is checked here. Then the objects are cross-checked against the code
(settings classes, alert rules) and the documentation (docs/kubernetes.md).
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from resonanz.shared.settings import SERVICE_PORTS, SERVICE_SCHEMAS, Settings

ROOT = Path(__file__).resolve().parent.parent
KUSTOMIZATION_DIR = ROOT / "deploy" / "kubernetes"
ALERTS_FILE = ROOT / "deploy" / "prometheus" / "alerts.yml"
DOC_FILE = ROOT / "docs" / "kubernetes.md"
SECRET_EXAMPLE = KUSTOMIZATION_DIR / "secret.example.yaml"

NAMESPACE = "resonanz"
ENV_PREFIX = "RESONANZ_"
# The oldest Kubernetes release the manifests claim, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", ".".join(kubernetes_validate.latest_version().split(".")[:2]))
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
CLUSTER_SCOPED_KINDS = {"Namespace"}

# `python -m <module>` -> its settings class.
SETTINGS_CLASSES = {
    "resonanz.gateway": "resonanz.gateway.app:GatewaySettings",
    "resonanz.feedback": "resonanz.feedback.app:FeedbackSettings",
    "resonanz.widgets": "resonanz.widgets.app:WidgetsSettings",
    "resonanz.webhook_dispatcher": "resonanz.webhook_dispatcher.app:WebhookDispatcherSettings",
    "resonanz.analytics": "resonanz.analytics.app:AnalyticsSettings",
    "resonanz.dashboard": "resonanz.dashboard.app:DashboardSettings",
    "resonanz.shared.migrate": "resonanz.shared.migrate:MigrationSettings",
}
# Deployment -> (module, the port of its API and, for the gateway, of /metrics and /readyz).
SERVICES = {
    "gateway": ("gateway", 8080, 9080),
    "feedback": ("feedback", 8081, 8081),
    "widgets": ("widgets", 8082, 8082),
    "webhook-dispatcher": ("webhook_dispatcher", 8083, 8083),
    "analytics": ("analytics", 8084, 8084),
    "dashboard": ("dashboard", 8085, 8085),
}
# The Deployments with a schema and a role of their own (the dashboard has none).
WITH_DATABASE = {name for name, (module, _, _) in SERVICES.items() if module in SERVICE_SCHEMAS}
CPU_SCALED = {"gateway", "feedback", "widgets", "dashboard"}
# Addresses people open (links in mails), not calls from one service to another.
PUBLIC_URLS = {"RESONANZ_PUBLIC_DASHBOARD_URL"}


# --- rendering -------------------------------------------------------------------------


def render(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize directory` prints, for the features the kustomization uses."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - {"apiVersion", "kind", "namespace", "resources", "images"}
    assert not unknown, f"render() does not know {sorted(unknown)}: keep it plain or teach it"
    objects = [obj for name in kustomization["resources"]
               for obj in yaml.safe_load_all((directory / name).read_text()) if obj]
    for obj in objects:
        _set_namespace(obj, kustomization.get("namespace"))
        for image in kustomization.get("images", []):
            _set_image(obj, image)
    return objects


def _set_namespace(obj: dict[str, Any], namespace: str | None) -> None:
    if namespace is None:
        return
    if obj["kind"] == "Namespace":
        obj["metadata"]["name"] = namespace  # kustomize renames the Namespace it is given
    elif obj["kind"] not in CLUSTER_SCOPED_KINDS:
        obj["metadata"]["namespace"] = namespace


def _set_image(node: Any, image: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _set_image(item, image)
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("containers", "initContainers"):
            for container in value:
                if _image_name(container["image"]) == image["name"]:
                    container["image"] = _new_image(container["image"], image)
        _set_image(value, image)


def _image_name(reference: str) -> str:
    name = reference.split("@", 1)[0]
    repository, _, tag = name.rpartition(":")
    return repository if repository and "/" not in tag else name


def _new_image(reference: str, image: dict[str, str]) -> str:
    name = image.get("newName", image["name"])
    if "digest" in image:
        return f"{name}@{image['digest']}"
    if "newTag" in image:
        return f"{name}:{image['newTag']}"
    return name + reference[len(_image_name(reference)):]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render(KUSTOMIZATION_DIR)


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) of every Deployment and Job."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_renderer_agrees_with_kubectl_kustomize(objects: list[dict[str, Any]]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the renderer is compared with it where it is")
    out = subprocess.run([kubectl, "kustomize", str(KUSTOMIZATION_DIR)], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    theirs = sorted((o for o in yaml.safe_load_all(out) if o), key=_key)
    assert sorted(objects, key=_key) == theirs


def test_renderer_sets_namespace_and_image() -> None:
    pod: dict[str, Any] = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "a", "image": "resonanz:1"}, {"name": "b", "image": "other"}],
        "initContainers": [{"name": "c", "image": "resonanz"}]}}
    _set_namespace(pod, "ns")
    _set_image(pod, {"name": "resonanz", "newName": "registry.example/resonanz", "newTag": "2"})
    assert pod["metadata"]["namespace"] == "ns"
    assert [c["image"] for c in pod["spec"]["containers"]] == [
        "registry.example/resonanz:2", "other"]
    assert pod["spec"]["initContainers"][0]["image"] == "registry.example/resonanz:2"
    assert _image_name("registry.example:5000/resonanz") == "registry.example:5000/resonanz"


# --- schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes(objects: list[dict[str, Any]], version: str) -> None:
    problems = []
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(map(str, exc.path))
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
    assert not problems


def test_kinds_without_a_schema_are_the_operators_custom_resources(
        objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[0], strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert obj["kind"] in CUSTOM_KINDS, obj["kind"]
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"


def test_service_monitors_have_the_operators_shape(objects: list[dict[str, Any]]) -> None:
    monitors = of_kind(objects, "ServiceMonitor").values()
    assert monitors
    for monitor in monitors:
        spec = monitor["spec"]
        assert set(spec) <= {"jobLabel", "selector", "endpoints", "namespaceSelector"}
        assert isinstance(spec["jobLabel"], str)
        assert set(spec["selector"]) <= {"matchLabels", "matchExpressions"}
        for endpoint in spec["endpoints"]:
            assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout",
                                     "honorLabels", "relabelings"}
            assert isinstance(endpoint["port"], str) and endpoint["path"] == "/metrics"
            for relabel in endpoint.get("relabelings", []):
                assert set(relabel) <= {"sourceLabels", "targetLabel", "regex", "action",
                                        "replacement", "separator"}


def test_prometheus_rule_has_the_operators_shape(objects: list[dict[str, Any]]) -> None:
    (rule,) = of_kind(objects, "PrometheusRule").values()
    assert set(rule["spec"]) == {"groups"}
    for group in rule["spec"]["groups"]:
        assert isinstance(group["name"], str)
        for entry in group["rules"]:
            assert isinstance(entry["alert"], str) and isinstance(entry["expr"], str)
            assert set(entry) <= {"alert", "expr", "for", "labels", "annotations"}


# --- Prometheus ------------------------------------------------------------------------


def _alert_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(ALERTS_FILE.read_text())["groups"]
    return groups


def test_prometheus_rule_is_the_alert_rules_file(objects: list[dict[str, Any]]) -> None:
    (rule,) = of_kind(objects, "PrometheusRule").values()
    assert rule["spec"]["groups"] == _alert_groups(), (
        "deploy/kubernetes/prometheusrule.yaml drifted from deploy/prometheus/alerts.yml:"
        " copy the groups over")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        present = labels.get(key)
        ok = {"In": present in expression.get("values", []),
              "NotIn": present not in expression.get("values", []),
              "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not ok:
            return False
    return True


def _scrape_job(alert_groups: list[dict[str, Any]]) -> str:
    exprs = [r["expr"] for g in alert_groups for r in g["rules"]
             if r["alert"] == "ResonanzServiceDown"]
    match = re.search(r'up\{job="([^"]+)"\}', exprs[0])
    assert match
    return match.group(1)


def test_service_monitors_scrape_every_service_as_the_alerts_expect(
        objects: list[dict[str, Any]]) -> None:
    services = of_kind(objects, "Service")
    job = _scrape_job(_alert_groups())
    scraped: dict[str, str] = {}
    for monitor in of_kind(objects, "ServiceMonitor").values():
        spec = monitor["spec"]
        for name, service in services.items():
            labels = service["metadata"]["labels"]
            if not _selects(spec["selector"], labels):
                continue
            assert name not in scraped, f"{name} is scraped twice"
            (endpoint,) = spec["endpoints"]
            scraped[name] = _service_port(service, endpoint["port"])
            assert labels[spec["jobLabel"]] == job
            assert _relabelled_service(endpoint, labels) == SERVICES[name][0]
    assert {name: int(port) for name, port in scraped.items()} == {
        name: metrics_port for name, (_, _, metrics_port) in SERVICES.items()}


def _service_port(service: dict[str, Any], port_name: str) -> str:
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert port_name in ports, f"{service['metadata']['name']} has no port {port_name}"
    return str(ports[port_name])


def _relabelled_service(endpoint: dict[str, Any], labels: dict[str, str]) -> str | None:
    """The `service` target label after the endpoint's relabelings (replace actions only)."""
    value = None
    for relabel in endpoint.get("relabelings", []):
        assert relabel.get("action", "replace") == "replace"
        if relabel["targetLabel"] == "service":
            (source,) = relabel["sourceLabels"]
            prefix = "__meta_kubernetes_service_label_"
            assert source.startswith(prefix)
            value = next((v for k, v in labels.items()
                          if re.sub(r"[^a-zA-Z0-9_]", "_", k) == source[len(prefix):]), None)
    return value


# --- workloads -------------------------------------------------------------------------


def _module(pod_spec: dict[str, Any]) -> str:
    (container,) = pod_spec["containers"]
    command = container["command"]
    assert command[:2] == ["python", "-m"] and len(command) == 3, command
    module: str = command[2]
    return module


def _settings_class(module: str) -> type[Settings]:
    module_name, _, class_name = SETTINGS_CLASSES[module].partition(":")
    cls: type[Settings] = getattr(importlib.import_module(module_name), class_name)
    return cls


def _env(pod_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = pod_spec["containers"]
    assert "envFrom" not in container, "name every variable: the settings check sees them"
    return {e["name"]: e for e in container.get("env", [])}


def _setting(variable: str) -> str:
    return variable.removeprefix(ENV_PREFIX).removesuffix("_FILE").lower()


def test_every_variable_is_a_setting_of_its_program(objects: list[dict[str, Any]]) -> None:
    for workload, spec in pod_specs(objects):
        fields = _settings_class(_module(spec)).model_fields
        unknown = [v for v in _env(spec) if v.startswith(ENV_PREFIX) and _setting(v) not in fields]
        assert not unknown, f"{workload}: not settings of {_module(spec)}: {unknown}"


def test_the_workloads_are_the_services_and_the_migration(
        objects: list[dict[str, Any]]) -> None:
    # Every service the code knows (its ports), and nothing else, runs as a Deployment.
    assert {module for module, _, _ in SERVICES.values()} == set(SERVICE_PORTS)
    assert set(of_kind(objects, "Deployment")) == set(SERVICES)
    assert {_module(spec) for _, spec in pod_specs(objects)} == set(SETTINGS_CLASSES)
    for name, deployment in of_kind(objects, "Deployment").items():
        assert _module(deployment["spec"]["template"]["spec"]) == f"resonanz.{SERVICES[name][0]}"


def _is_secret(field_annotation: Any) -> bool:
    return SecretStr in (field_annotation, *get_args(field_annotation))


def test_secrets_are_mounted_files_never_values(objects: list[dict[str, Any]]) -> None:
    assert not of_kind(objects, "Secret"), "Secrets are created by hand, never committed"
    for workload, spec in pod_specs(objects):
        fields = _settings_class(_module(spec)).model_fields
        files = _secret_files(spec)
        for variable, entry in _env(spec).items():
            if not variable.startswith(ENV_PREFIX):
                continue
            if variable.endswith("_FILE"):
                assert entry["value"] in files, f"{workload}: {variable} names no secret file"
            elif _is_secret(fields[_setting(variable)].annotation):
                # A role's DSN may stand in the manifest: its password comes from a file.
                assert not urlsplit(entry["value"]).password, f"{workload}: {variable} inlined"


def _secret_files(pod_spec: dict[str, Any]) -> dict[str, str]:
    """Mounted path -> Secret key, for every secret volume item."""
    (container,) = pod_spec["containers"]
    volumes = {v["name"]: v["secret"] for v in pod_spec.get("volumes", []) if "secret" in v}
    files = {}
    for mount in container.get("volumeMounts", []):
        secret = volumes.get(mount["name"])
        if secret is None:
            continue
        assert secret["secretName"] == "resonanz" and mount.get("readOnly")
        assert "items" in secret, "mount only the keys a workload needs"
        for item in secret["items"]:
            files[f"{mount['mountPath']}/{item['path']}"] = item["key"]
    return files


def _secret_keys(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Secret key -> the workloads using it (volume items and secretKeyRefs alike)."""
    users: dict[str, set[str]] = {}
    for workload, spec in pod_specs(objects):
        keys = set(_secret_files(spec).values())
        keys |= {e["valueFrom"]["secretKeyRef"]["key"] for e in _env(spec).values()
                 if "secretKeyRef" in e.get("valueFrom", {})}
        for key in keys:
            users.setdefault(key, set()).add(workload)
    return users


def _file_setting(spec: dict[str, Any], variable: str) -> str:
    """The Secret key a RESONANZ_*_FILE variable reads."""
    return _secret_files(spec)[_env(spec)[variable]["value"]]


def test_every_service_gets_the_secrets_it_requires(objects: list[dict[str, Any]]) -> None:
    # Services refuse to start without their required_secrets (the migration checks only
    # the role passwords, see the next tests).
    for workload, deployment in of_kind(objects, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        required = _settings_class(_module(spec)).required_secrets
        given = {_setting(v) for v in _env(spec) if v.startswith(ENV_PREFIX)}
        missing = set(required) - given
        assert not missing, f"{workload} refuses to start without {sorted(missing)}"


def test_each_service_logs_in_as_its_own_role(objects: list[dict[str, Any]]) -> None:
    for name, deployment in of_kind(objects, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        if name not in WITH_DATABASE:
            # Static files only: no DSN, and no secret mounted that it would not use.
            assert "RESONANZ_DATABASE_URL" not in _env(spec), name
            assert not _secret_files(spec), f"{name} needs no secret"
            continue
        dsn = urlsplit(_env(spec)["RESONANZ_DATABASE_URL"]["value"])
        assert dsn.username == f"resonanz_{SERVICES[name][0]}" and dsn.password is None
        assert _file_setting(spec, "RESONANZ_DB_ROLE_PASSWORD_FILE") == f"{name}-db-password"
        assert _file_setting(spec, "RESONANZ_INTERNAL_TOKEN_FILE") == "internal-token"
    gateway = of_kind(objects, "Deployment")["gateway"]["spec"]["template"]["spec"]
    assert _file_setting(gateway, "RESONANZ_API_KEY_PEPPER_FILE") == "api-key-pepper"


def test_only_the_migration_holds_the_superuser_and_the_role_passwords(
        objects: list[dict[str, Any]]) -> None:
    (job,) = of_kind(objects, "Job").values()
    spec = job["spec"]["template"]["spec"]
    assert _module(spec) == "resonanz.shared.migrate"
    assert job["spec"]["backoffLimit"] >= 1 and spec["restartPolicy"] == "Never"
    assert _file_setting(spec, "RESONANZ_DATABASE_URL_FILE") == "superuser-database-url"
    for name in WITH_DATABASE:
        module = SERVICES[name][0]
        variable = f"{ENV_PREFIX}{module.upper()}_DB_PASSWORD_FILE"
        assert _file_setting(spec, variable) == f"{name}-db-password"
    users = _secret_keys(objects)
    assert users["superuser-database-url"] == {job["metadata"]["name"]}
    for name in WITH_DATABASE:
        assert users[f"{name}-db-password"] == {name, job["metadata"]["name"]}


def test_the_migration_can_be_applied_first(objects: list[dict[str, Any]]) -> None:
    """`kubectl apply -k deploy/kubernetes -l resonanz.io/stage=migrate` (docs) must bring
    everything the Job needs, and only that."""
    first = {_key(o) for o in objects
             if o["metadata"].get("labels", {}).get("resonanz.io/stage") == "migrate"}
    (job,) = of_kind(objects, "Job").values()
    config_maps = {("ConfigMap", e["valueFrom"]["configMapKeyRef"]["name"])
                   for e in _env(job["spec"]["template"]["spec"]).values()
                   if "configMapKeyRef" in e.get("valueFrom", {})}
    assert first == {("Namespace", NAMESPACE), _key(job), *config_maps}


def test_config_map_references_exist(objects: list[dict[str, Any]]) -> None:
    config_maps = of_kind(objects, "ConfigMap")
    for workload, spec in pod_specs(objects):
        for variable, entry in _env(spec).items():
            ref = entry.get("valueFrom", {}).get("configMapKeyRef")
            if ref is not None:
                assert ref["key"] in config_maps[ref["name"]]["data"], f"{workload}: {variable}"


def test_mail_links_lead_to_the_dashboard_through_the_ingress(
        objects: list[dict[str, Any]]) -> None:
    """Invitation and reset mails link below RESONANZ_PUBLIC_DASHBOARD_URL: the ingress's
    public URL + /app (which the gateway forwards to the dashboard), set in the ConfigMap
    where docs/kubernetes.md says, never a Service address a browser cannot reach."""
    deployments = of_kind(objects, "Deployment")
    dispatcher = _env(deployments["webhook-dispatcher"]["spec"]["template"]["spec"])
    ref = dispatcher["RESONANZ_PUBLIC_DASHBOARD_URL"]["valueFrom"]["configMapKeyRef"]
    url = urlsplit(of_kind(objects, "ConfigMap")[ref["name"]]["data"][ref["key"]])
    assert url.scheme == "https" and url.path == "/app", url.geturl()
    assert url.hostname not in of_kind(objects, "Service"), url.geturl()
    doc = DOC_FILE.read_text(encoding="utf-8")
    assert f"`{ref['key']}`" in doc and f"host: {url.hostname}" in doc, (
        "docs/kubernetes.md: the key, and the Ingress example with the same host")
    gateway = _env(deployments["gateway"]["spec"]["template"]["spec"])
    assert gateway["RESONANZ_DASHBOARD_URL"]["value"] == "http://dashboard:8085"


def _container_ports(pod_spec: dict[str, Any]) -> dict[str, int]:
    (container,) = pod_spec["containers"]
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def _port_number(pod_spec: dict[str, Any], port: int | str) -> int:
    return port if isinstance(port, int) else _container_ports(pod_spec)[port]


def test_deployments_run_their_service_as_documented(objects: list[dict[str, Any]]) -> None:
    for name, deployment in of_kind(objects, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = _env(spec)
        _, api_port, ops_port = SERVICES[name]
        assert container["image"].startswith("resonanz:"), "kustomize `images` sets the tag"
        assert env["RESONANZ_HOST"]["value"] == "0.0.0.0"
        assert int(env["RESONANZ_PORT"]["value"]) == _container_ports(spec)["http"] == api_port
        if ops_port != api_port:
            assert int(env["RESONANZ_OPS_PORT"]["value"]) == _container_ports(spec)["ops"]
        _check_probes(name, spec, container, ops_port)
        _check_resources(name, container)


def _check_probes(name: str, spec: dict[str, Any], container: dict[str, Any],
                  ops_port: int) -> None:
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path, f"{name}: {probe}"
        assert _port_number(spec, http["port"]) == ops_port, f"{name}: {probe} port"


def _check_resources(name: str, container: dict[str, Any]) -> None:
    resources = container["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) >= {"cpu", "memory"}, f"{name}: {bound}"


def test_pods_run_locked_down(objects: list[dict[str, Any]]) -> None:
    for workload, spec in pod_specs(objects):
        pod = spec["securityContext"]
        (container,) = spec["containers"]
        context = container["securityContext"]
        assert pod["runAsNonRoot"] and pod["runAsUser"] == 10001, workload
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", workload
        assert context["readOnlyRootFilesystem"] is True, workload
        assert context["allowPrivilegeEscalation"] is False, workload
        assert context["capabilities"]["drop"] == ["ALL"], workload
        assert spec["automountServiceAccountToken"] is False, workload


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def test_selectors_match_their_pods(objects: list[dict[str, Any]]) -> None:
    deployments = of_kind(objects, "Deployment")
    for name, deployment in deployments.items():
        assert _selects(deployment["spec"]["selector"], _pod_labels(deployment)), name
    for kind in ("Service", "PodDisruptionBudget"):
        for name, obj in of_kind(objects, kind).items():
            selector = obj["spec"]["selector"]
            if kind == "Service":
                selector = {"matchLabels": selector}
            chosen = [d for d, dep in deployments.items() if _selects(selector, _pod_labels(dep))]
            assert chosen == [name], f"{kind}/{name} selects {chosen}"
    assert set(of_kind(objects, "PodDisruptionBudget")) == set(deployments)


def test_service_ports_are_container_ports(objects: list[dict[str, Any]]) -> None:
    deployments = of_kind(objects, "Deployment")
    for name, service in of_kind(objects, "Service").items():
        spec = deployments[name]["spec"]["template"]["spec"]
        for port in service["spec"]["ports"]:
            assert _port_number(spec, port["targetPort"]) == port["port"], f"{name}: {port}"
    gateway = of_kind(objects, "Service")["gateway"]["spec"]["ports"]
    assert {p["name"]: p["port"] for p in gateway} == {"http": 8080, "ops": 9080}


def test_services_find_each_other_by_their_service_names(objects: list[dict[str, Any]]) -> None:
    for source, target, port in _calls(objects):
        service = of_kind(objects, "Service")[target]
        assert port in [p["port"] for p in service["spec"]["ports"]], f"{source} -> {target}"
    gateway_calls = {t for s, t, _ in _calls(objects) if s == "gateway"}
    assert gateway_calls == set(SERVICES) - {"gateway"}


def _calls(objects: list[dict[str, Any]]) -> Iterator[tuple[str, str, int]]:
    """(caller, Service, port) for every RESONANZ_*_URL a service is given."""
    for name, deployment in of_kind(objects, "Deployment").items():
        for variable, entry in _env(deployment["spec"]["template"]["spec"]).items():
            if variable.endswith("_URL") and variable not in {"RESONANZ_DATABASE_URL",
                                                              *PUBLIC_URLS}:
                url = urlsplit(entry["value"])
                assert url.hostname and url.port, f"{name}: {variable}"
                yield name, url.hostname, url.port


def test_autoscalers_scale_the_stateless_services_on_cpu(objects: list[dict[str, Any]]) -> None:
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    assert set(autoscalers) == CPU_SCALED
    for name, hpa in autoscalers.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert "replicas" not in of_kind(objects, "Deployment")[name]["spec"], (
            f"{name}: the autoscaler owns the replica count")


# --- network policies ------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]


PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
INGRESS_CONTROLLER = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})


def admitted(policies: list[dict[str, Any]], source: Pod, target: dict[str, Any],
             port: int) -> bool:
    """Whether the policies let `source` reach port `port` of the Deployment `target`'s pods."""
    labels = _pod_labels(target)
    spec = target["spec"]["template"]["spec"]
    selecting = [p for p in policies if "Ingress" in p["spec"]["policyTypes"]
                 and _selects(p["spec"]["podSelector"], labels)]
    if not selecting:
        return True
    return any(_peer_matches(rule.get("from"), source)
               and _port_matches(rule.get("ports"), spec, port)
               for policy in selecting for rule in policy["spec"].get("ingress", []))


def _peer_matches(peers: list[dict[str, Any]] | None, source: Pod) -> bool:
    if not peers:
        return True
    for peer in peers:
        if "ipBlock" in peer:
            continue
        namespaces = peer.get("namespaceSelector")
        namespace_labels = {"kubernetes.io/metadata.name": source.namespace}
        in_namespace = (source.namespace == NAMESPACE if namespaces is None
                        else _selects(namespaces, namespace_labels))
        if in_namespace and _selects(peer.get("podSelector", {}), source.labels):
            return True
    return False


def _port_matches(ports: list[dict[str, Any]] | None, pod_spec: dict[str, Any],
                  port: int) -> bool:
    if not ports:
        return True
    named = _container_ports(pod_spec)
    return any("port" not in p or p["port"] == port or named.get(p["port"]) == port
               for p in ports)


@pytest.fixture(scope="module")
def policies(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(of_kind(objects, "NetworkPolicy").values())


def test_ingress_is_denied_by_default(policies: list[dict[str, Any]]) -> None:
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"]
               and not p["spec"].get("ingress") for p in policies)


def test_only_the_public_api_takes_traffic_from_anywhere(
        objects: list[dict[str, Any]], policies: list[dict[str, Any]]) -> None:
    deployments = of_kind(objects, "Deployment")
    for name, (_, api_port, _) in SERVICES.items():
        reachable = admitted(policies, INGRESS_CONTROLLER, deployments[name], api_port)
        assert reachable == (name == "gateway"), name
    assert not admitted(policies, INGRESS_CONTROLLER, deployments["gateway"], 9080)


def test_prometheus_reaches_every_metrics_port(
        objects: list[dict[str, Any]], policies: list[dict[str, Any]]) -> None:
    deployments = of_kind(objects, "Deployment")
    for name, (_, _, metrics_port) in SERVICES.items():
        assert admitted(policies, PROMETHEUS, deployments[name], metrics_port), name


def test_services_reach_exactly_what_they_call(
        objects: list[dict[str, Any]], policies: list[dict[str, Any]]) -> None:
    deployments = of_kind(objects, "Deployment")
    calls = {(source, target) for source, target, _ in _calls(objects)}
    for source, caller in deployments.items():
        pod = Pod(NAMESPACE, _pod_labels(caller))
        for target, (_, api_port, ops_port) in SERVICES.items():
            if target == "gateway":
                assert not admitted(policies, pod, deployments[target], ops_port), source
                continue
            reachable = admitted(policies, pod, deployments[target], api_port)
            assert reachable == ((source, target) in calls), f"{source} -> {target}"
    stranger = Pod("elsewhere", _pod_labels(deployments["gateway"]))
    assert not admitted(policies, stranger, deployments["feedback"], 8081)


# --- documentation ---------------------------------------------------------------------


def _documented_secret_keys() -> set[str]:
    doc = DOC_FILE.read_text(encoding="utf-8")
    command = re.search(r"kubectl .*create secret generic resonanz(?:[^\n]*\\\n)*[^\n]*", doc)
    assert command, "docs/kubernetes.md shows no `kubectl create secret generic resonanz`"
    return set(re.findall(r"--from-(?:literal|file)=([a-z0-9-]+)=", command.group(0)))


def test_every_secret_key_is_documented(objects: list[dict[str, Any]]) -> None:
    used = set(_secret_keys(objects))
    assert used == _documented_secret_keys()
    example = yaml.safe_load(SECRET_EXAMPLE.read_text())
    assert set(example["stringData"]) == used


def test_secret_example_is_no_resource_and_would_be_refused() -> None:
    kustomization = yaml.safe_load((KUSTOMIZATION_DIR / "kustomization.yaml").read_text())
    assert SECRET_EXAMPLE.name not in kustomization["resources"]
    values = yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"]
    settings = _settings_class("resonanz.gateway")(
        internal_token=values["internal-token"], api_key_pepper=values["api-key-pepper"],
        encryption_keys=values["encryption-keys"], env="production")
    refused = " ".join(settings.weak_secrets())
    for variable in ("INTERNAL_TOKEN", "API_KEY_PEPPER", "ENCRYPTION_KEYS"):
        assert f"{ENV_PREFIX}{variable} " in refused
