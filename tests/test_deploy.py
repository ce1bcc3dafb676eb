"""The production-like deployment, checked without a Docker engine.

docker-compose.yml, the Dockerfile, Prometheus' config and alert rules and the Grafana
provisioning are parsed and cross-checked; promtool validates the Prometheus files and runs the
alert unit tests. promtool is required: CI installs it with `apt-get install -y prometheus`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD_FILE = GRAFANA_DIR / "dashboards" / "resonanz.json"

# python -m resonanz.<module> (also the `service` label of its metrics) -> compose service, port.
SERVICES: dict[str, tuple[str, int]] = {
    "gateway": ("gateway", 8080),
    "feedback": ("feedback", 8081),
    "widgets": ("widgets", 8082),
    "webhook_dispatcher": ("webhook-dispatcher", 8083),
    "analytics": ("analytics", 8084),
    "dashboard": ("dashboard", 8085),
}


def _with_database() -> list[str]:
    """The services with a schema and a role of their own (the dashboard has none)."""
    from resonanz.shared.settings import SERVICE_SCHEMAS

    return [module for module in SERVICES if module in SERVICE_SCHEMAS]


WITH_DATABASE = _with_database()

REQUIRED_ALERTS = {
    "ResonanzServiceDown",
    "ResonanzHighErrorRate",
    "ResonanzOutboxStalled",
    "ResonanzConsumerLagHigh",
    "ResonanzWebhookFailureRateHigh",
    "ResonanzEventsDeadLettered",
}
# Alerts alerts_test.yml must show both firing and staying quiet.
UNIT_TESTED_ALERTS = {
    "ResonanzServiceDown",
    "ResonanzHighErrorRate",
    "ResonanzOutboxStalled",
    "ResonanzConsumerLagHigh",
}


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _compose() -> dict[str, Any]:
    return _load_yaml(COMPOSE_FILE)


def _compose_services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host source, for short-syntax volume entries."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        mounts[target] = source
    return mounts


def _published(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) for each `ip:host:container` port entry."""
    out = []
    for entry in service.get("ports", []):
        head, _, container = str(entry).rpartition(":")
        host_ip, _, host_port = head.rpartition(":")
        out.append((host_ip, host_port, container))
    return out


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool is not None, (
        "promtool is not installed; it comes with Debian's prometheus package "
        "(apt-get install -y prometheus)"
    )
    return subprocess.run(
        [promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_builds_one_non_root_image_from_pyproject() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert len(stages) == 2, "a build stage and a runtime stage"
    assert all(image == "python:3.11-slim" for image in stages), stages
    build, runtime = re.split(r"^FROM\s", text, flags=re.MULTILINE)[1:]

    def position(pattern: str) -> int:
        found = re.search(pattern, build, flags=re.MULTILINE)
        assert found, f"the build stage has no {pattern!r}"
        return found.start()

    # The locked dependencies form their own layer, before any source is copied.
    lock_installed = position(r"^RUN pip install --require-hashes -r requirements\.lock\b")
    assert position(r"^COPY requirements\.lock\s") < lock_installed
    # The wheel is built from what tests/test_packaging.py builds it from.
    for source in ("pyproject.toml", "setup.py", "LICENSE", "shared", "services"):
        assert lock_installed < position(rf"^COPY\s.*(?<=\s){re.escape(source)}\s")
    position(r"--require-hashes -r requirements-build\.lock\b")
    wheel = position(r"pip wheel\b.*--no-deps")
    installed = position(r"pip install --no-deps \S+\.whl")
    assert lock_installed < wheel < installed
    # No install from the source tree, which could hide what the wheel leaves out.
    assert not re.search(r"pip install( -e)? \.(\s|$)", text)
    # The smoke check: every module and every service's entry point, from the installation.
    assert position(r"python -I tools/import_every_module\.py /src\b") > installed
    assert position(r"python -I -m \"resonanz\.\$service\" --help") > installed

    assert re.search(r"^COPY --from=build /opt/venv /opt/venv$", runtime, flags=re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", runtime, flags=re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^CMD\s", runtime, flags=re.MULTILINE)


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose_runs_infrastructure_kafka_in_kraft_mode() -> None:
    services = _compose_services()
    for name in ("postgres", "kafka", "prometheus", "grafana", "mailpit"):
        assert name in services, f"compose has no {name} service"

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].endswith("@kafka:9093")
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "CLUSTER_ID: base64 uuid"
    assert not any(key.startswith("KAFKA_ZOOKEEPER") for key in env)
    assert kafka.get("healthcheck", {}).get("test")
    for name, service in services.items():
        assert "zookeeper" not in name.lower()
        assert "zookeeper" not in str(service.get("image", "")).lower()

    assert "mailpit" in services["mailpit"]["image"]
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    assert services["grafana"]["image"].startswith("grafana/grafana")


@pytest.mark.parametrize("module", sorted(SERVICES))
def test_compose_service_runs_the_one_image_and_is_healthchecked(module: str) -> None:
    name, port = SERVICES[module]
    services = _compose_services()
    assert name in services, f"compose has no {name} service"
    service = services[name]

    assert "build" not in service, f"{name} builds the image again; only migrate builds it"
    assert service["image"] == services["migrate"]["image"]
    assert service["command"] == ["python", "-m", f"resonanz.{module}"]

    env = _env(service)
    assert env["RESONANZ_PORT"] == str(port)
    assert env["RESONANZ_HOST"] == "0.0.0.0"

    healthcheck = service.get("healthcheck") or {}
    probe = " ".join(healthcheck.get("test", []))
    assert "/readyz" in probe and "urllib" in probe, probe
    assert "RESONANZ_OPS_PORT" in probe and "RESONANZ_PORT" in probe


@pytest.mark.parametrize("module", WITH_DATABASE)
def test_compose_service_with_a_database_starts_after_migrate_as_its_role(module: str) -> None:
    name, _ = SERVICES[module]
    service = _compose_services()[name]
    env = _env(service)
    assert env["RESONANZ_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["RESONANZ_DATABASE_URL"] == f"postgresql://resonanz_{module}@postgres:5432/resonanz"
    assert env["RESONANZ_DB_ROLE_PASSWORD"].startswith(
        f"${{RESONANZ_{module.upper()}_DB_PASSWORD:?"), "each role has its own password"

    depends = service.get("depends_on") or {}
    assert depends.get("migrate", {}).get("condition") == "service_completed_successfully"
    for infra in ("postgres", "kafka"):
        assert depends.get(infra, {}).get("condition") == "service_healthy", (name, infra)


def test_compose_dashboard_needs_nothing_and_is_reached_through_the_gateway() -> None:
    services = _compose_services()
    dashboard = services["dashboard"]
    # Static files only: it waits for no one and is given no database, broker or secret.
    assert not dashboard.get("depends_on"), dashboard.get("depends_on")
    env = _env(dashboard)
    assert not any("DATABASE" in k or "KAFKA" in k or ":?" in v for k, v in env.items()), env
    assert not _published(dashboard)
    gateway = services["gateway"]
    assert _env(gateway)["RESONANZ_DASHBOARD_URL"] == "http://dashboard:8085"
    assert gateway["depends_on"]["dashboard"]["condition"] == "service_healthy"


def test_compose_mails_link_to_the_dashboard_at_the_gateways_public_address() -> None:
    services = _compose_services()
    link = _env(services["webhook-dispatcher"])["RESONANZ_PUBLIC_DASHBOARD_URL"]
    # ${VARIABLE:-default}/app: settable in .env, by default the address compose publishes.
    match = re.fullmatch(r"\$\{([A-Z_]+):-(http://[^}/]+)\}/app", link)
    assert match, link
    [(host_ip, host_port, _)] = _published(services["gateway"])
    default_bind = re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", host_ip)
    assert match[2] == f"http://{default_bind}:{host_port}", match[2]
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert re.search(rf"^#?{match[1]}={re.escape(match[2])}$", example, flags=re.MULTILINE)


def test_compose_builds_the_image_once_in_the_migrate_one_shot() -> None:
    services = _compose_services()
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"], builders
    build = services["migrate"]["build"]
    dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
    assert dockerfile.resolve() == DOCKERFILE
    assert services["migrate"]["command"] == ["python", "-m", "resonanz.shared.migrate"]
    assert services["migrate"]["restart"] == "no"


def test_compose_only_migrate_holds_the_superuser_dsn() -> None:
    holders = [name for name, service in _compose_services().items()
               if "POSTGRES_PASSWORD" in json.dumps(_env(service)) and name != "postgres"]
    assert holders == ["migrate"], holders
    env = _env(_compose_services()["migrate"])
    assert env["RESONANZ_DATABASE_URL"].startswith("postgresql://postgres:${POSTGRES_PASSWORD:?")
    for module in WITH_DATABASE:
        assert f"RESONANZ_{module.upper()}_DB_PASSWORD" in env


def test_compose_has_no_default_for_any_secret() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    secrets = ["POSTGRES_PASSWORD", "RESONANZ_INTERNAL_TOKEN", "RESONANZ_API_KEY_PEPPER",
               "RESONANZ_ENCRYPTION_KEYS",
               "GRAFANA_ADMIN_PASSWORD",
               *(f"RESONANZ_{m.upper()}_DB_PASSWORD" for m in WITH_DATABASE)]
    for secret in secrets:
        uses = re.findall(rf"\$\{{{secret}(:?[-?=+]?)", text)
        assert uses, f"{secret} is not used"
        assert all(use == ":?" for use in uses), f"{secret} must be required: ${{{secret}:?…}}"


def test_env_example_names_every_variable_compose_reads() -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE_FILE.read_text(encoding="utf-8")))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?([A-Z_]+)=", example, flags=re.MULTILINE))
    assert used <= documented, used - documented


def test_compose_ports_match_service_defaults() -> None:
    from resonanz.shared.settings import SERVICE_PORTS

    assert {module: port for module, (_, port) in SERVICES.items()} == SERVICE_PORTS


def test_compose_service_urls_point_at_compose_services() -> None:
    services = _compose_services()
    for module in WITH_DATABASE:
        name, _ = SERVICES[module]
        env = _env(services[name])
        for other, (other_name, other_port) in SERVICES.items():
            key = f"RESONANZ_{other.upper()}_URL"
            assert env.get(key) == f"http://{other_name}:{other_port}", (name, key)
        assert env.get("RESONANZ_SMTP_HOST") == "mailpit", module
        assert env.get("RESONANZ_SMTP_PORT") == "1025", module
    # The dashboard calls no one.
    assert not [k for k in _env(services["dashboard"]) if k.endswith("_URL")]


def test_compose_publishes_gateway_and_uis_on_loopback_only() -> None:
    services = _compose_services()
    published = {name: _published(service) for name, service in services.items()}
    expected = {"gateway": "8080", "grafana": "3000", "prometheus": "9090", "mailpit": "8025"}
    for name, port in expected.items():
        assert [(host, container) for _, host, container in published[name]] == [(port, port)]
    for name, entries in published.items():
        for host_ip, _, _ in entries:
            # An overridable bind address must still default to loopback.
            default = re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", host_ip)
            assert default == "127.0.0.1", (name, host_ip)
    unpublished = set(services) - set(expected)
    assert all(not published[name] for name in unpublished), unpublished


def test_compose_mounts_prometheus_and_grafana_config() -> None:
    services = _compose_services()
    prometheus = _mounts(services["prometheus"])
    assert (ROOT / prometheus["/etc/prometheus"]).resolve() == PROMETHEUS_DIR
    grafana = _mounts(services["grafana"])
    assert (ROOT / grafana["/etc/grafana/provisioning"]).resolve() == GRAFANA_DIR / "provisioning"
    assert (ROOT / grafana["/var/lib/grafana/dashboards"]).resolve() == GRAFANA_DIR / "dashboards"


# --- Prometheus -------------------------------------------------------------------------------


def test_prometheus_scrapes_every_service() -> None:
    config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    scraped: dict[str, str] = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                scraped[target] = (static.get("labels") or {}).get("service", "")
    compose_services = _compose_services()
    # The gateway's metrics are on its operations port; its public port answers 404 there.
    metrics_ports = {"gateway": 9080}
    assert "gateway:8080" not in scraped
    for module, (name, port) in SERVICES.items():
        target = f"{name}:{metrics_ports.get(module, port)}"
        assert target in scraped, f"prometheus.yml does not scrape {target}"
        assert scraped[target] == module, f"{target} should carry service={module}"
        assert name in compose_services


def test_alert_rules_are_complete() -> None:
    rules = [
        rule
        for group in _load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"]
        for rule in group["rules"]
    ]
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    assert set(alerts) >= REQUIRED_ALERTS, REQUIRED_ALERTS - set(alerts)
    for name, rule in alerts.items():
        assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name


def test_alert_unit_tests_cover_firing_and_quiet() -> None:
    spec = _load_yaml(PROMETHEUS_DIR / "alerts_test.yml")
    assert spec["rule_files"] == ["alerts.yml"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in spec["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing >= UNIT_TESTED_ALERTS, UNIT_TESTED_ALERTS - firing
    assert quiet >= UNIT_TESTED_ALERTS, UNIT_TESTED_ALERTS - quiet


def test_promtool_check_config() -> None:
    _assert_ok(_promtool("check", "config", "deploy/prometheus/prometheus.yml"))


def test_promtool_check_rules() -> None:
    _assert_ok(_promtool("check", "rules", "deploy/prometheus/alerts.yml"))


def test_promtool_test_rules() -> None:
    _assert_ok(_promtool("test", "rules", "deploy/prometheus/alerts_test.yml"))


# --- Grafana ----------------------------------------------------------------------------------


def _rows(dashboard: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(row title, its panels): nested for a collapsed row, the panels after it otherwise."""
    rows: list[tuple[str, list[dict[str, Any]]]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            rows.append((panel["title"], list(panel.get("panels") or [])))
        elif rows:
            rows[-1][1].append(panel)
    return rows


def _exprs(panels: list[dict[str, Any]]) -> list[str]:
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def _all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        panel
        for top in dashboard["panels"]
        for panel in [top, *(top.get("panels") or [])]
        if panel["type"] != "row"
    ]


def test_grafana_dashboard_has_a_row_per_service_and_pipeline_and_business() -> None:
    dashboard = _dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"]
    rows = _rows(dashboard)
    titles = [title.lower() for title, _ in rows]
    for module in SERVICES:
        matching = [panels for title, panels in rows if module in title.lower()]
        assert len(matching) == 1, f"no single row for {module}: {titles}"
        exprs = _exprs(matching[0])
        joined = "\n".join(exprs)
        assert f'service="{module}"' in joined
        assert "resonanz_http_requests_total" in joined
        assert "histogram_quantile(0.99" in joined
        assert 'status=~"5.."' in joined
    rows_by_title = dict(rows)
    pipeline = "\n".join(_exprs(rows_by_title["Pipeline"]))
    for metric in (
        "resonanz_outbox_backlog",
        "resonanz_outbox_oldest_age_seconds",
        "resonanz_consumer_lag",
        "resonanz_event_age_at_consumption_seconds",
        "resonanz_webhook_attempts_total",
        "resonanz_consumer_dead_lettered_total",
    ):
        assert metric in pipeline, metric
    business = "\n".join(_exprs(rows_by_title["Business"]))
    assert "resonanz_analytics_submissions_total" in business
    assert "rating" in business


def test_grafana_panels_use_the_provisioned_datasource() -> None:
    datasources = _load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")
    (prometheus,) = [ds for ds in datasources["datasources"] if ds["type"] == "prometheus"]
    assert prometheus["uid"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    panels = _all_panels(_dashboard())
    assert panels
    ids = [panel["id"] for panel in _dashboard()["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == "prometheus"


def test_grafana_dashboard_provider_points_at_mounted_folder() -> None:
    providers = _load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_grafana_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses every query as a recording rule, with Grafana's variables filled in.
    grafana_vars = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
    rules = []
    for n, expr in enumerate(_exprs(_all_panels(_dashboard()))):
        for var, value in grafana_vars.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{n}", "expr": expr})
    rules_file = tmp_path / "dashboard_queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _assert_ok(_promtool("check", "rules", str(rules_file)))
