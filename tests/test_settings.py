"""Configuration: secrets from files, refusal of weak secrets outside development, one
migration run that gives every service its own role and password."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from resonanz.gateway.app import GatewaySettings
from resonanz.shared.migrate import MigrationSettings, migrate_all
from resonanz.shared.settings import SERVICE_SCHEMAS, Settings

from .conftest import Infra

STRONG = "x" * 40


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESONANZ_")}
    env.update(extra)
    return env


def run_module(module: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_setting_can_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pepper"
    secret.write_text(f"{STRONG}\n")
    monkeypatch.setenv("RESONANZ_API_KEY_PEPPER_FILE", str(secret))
    assert GatewaySettings().api_key_pepper.get_secret_value() == STRONG


def test_a_variable_set_directly_wins_over_its_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-the-file")
    monkeypatch.setenv("RESONANZ_INTERNAL_TOKEN_FILE", str(secret))
    monkeypatch.setenv("RESONANZ_INTERNAL_TOKEN", "from-the-variable")
    assert Settings().internal_token.get_secret_value() == "from-the-variable"


def test_an_unreadable_secret_file_is_named_at_start(tmp_path: Path) -> None:
    env = clean_env(RESONANZ_INTERNAL_TOKEN_FILE=str(tmp_path / "missing"))
    done = run_module("resonanz.feedback", env)
    assert done.returncode == 2
    assert "RESONANZ_INTERNAL_TOKEN_FILE" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("token", [None, "dev-internal-token-change-me", "short-but-random"])
def test_gateway_refuses_weak_secrets_outside_development(token: str | None) -> None:
    env = clean_env(RESONANZ_API_KEY_PEPPER=STRONG)
    if token is not None:
        env["RESONANZ_INTERNAL_TOKEN"] = token
    done = run_module("resonanz.gateway", env)
    assert done.returncode == 2, done.stderr
    assert "RESONANZ_INTERNAL_TOKEN" in done.stderr
    assert "RESONANZ_API_KEY_PEPPER" not in done.stderr
    assert "Traceback" not in done.stderr


def test_operator_cli_refuses_the_default_pepper_instead_of_minting_a_useless_key() -> None:
    env = clean_env(RESONANZ_INTERNAL_TOKEN=STRONG)
    done = run_module("resonanz.gateway", env, "admin", "list-tenants")
    assert done.returncode == 2
    assert "RESONANZ_API_KEY_PEPPER is not set" not in done.stderr
    assert "RESONANZ_API_KEY_PEPPER is a well-known development value" in done.stderr


def test_development_accepts_the_built_in_secrets() -> None:
    assert GatewaySettings(env="development").weak_secrets() == []
    assert len(GatewaySettings().weak_secrets()) == 3
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    assert GatewaySettings(internal_token=STRONG, api_key_pepper=STRONG,
                           encryption_keys=key).weak_secrets() == []


def test_an_encryption_key_of_the_wrong_size_is_named() -> None:
    settings = GatewaySettings(internal_token=STRONG, api_key_pepper=STRONG,
                               encryption_keys="x" * 40)
    assert settings.weak_secrets() == ["RESONANZ_ENCRYPTION_KEYS: key 1 has 30 bytes, not 32"]


def test_a_service_role_dsn_keeps_its_own_password() -> None:
    own = Settings(database_url="postgresql://resonanz_feedback:pw@db:5432/resonanz")
    assert own.service_dsn("feedback") == "postgresql://resonanz_feedback:pw@db:5432/resonanz"
    superuser = Settings(database_url="postgresql://postgres:root-pw@db/resonanz",
                         db_role_password="role-pw")
    assert superuser.service_dsn("feedback") == "postgresql://resonanz_feedback:role-pw@db/resonanz"
    assert "root-pw" not in Settings(
        database_url="postgresql://postgres:root-pw@db/resonanz").service_dsn("feedback")


def test_migration_refuses_roles_without_passwords_outside_development() -> None:
    done = run_module("resonanz.shared.migrate", clean_env())
    assert done.returncode == 2
    for service in SERVICE_SCHEMAS:
        assert f"RESONANZ_{service.upper()}_DB_PASSWORD is not set" in done.stderr


async def test_one_migration_run_gives_every_service_its_role_schema_and_password(
        infra: Infra, database_url: str) -> None:
    settings = MigrationSettings.model_validate({
        "database_url": database_url, "kafka_bootstrap_servers": infra.bootstrap_servers,
        "kafka_topic_partitions": 2,
        **{f"{service}_db_password": f"{service}-{STRONG}" for service in SERVICE_SCHEMAS}})
    await migrate_all(settings)
    await migrate_all(settings)  # a second run (the next deploy) changes nothing
    conn = await asyncpg.connect(database_url)
    try:
        for service, schema in SERVICE_SCHEMAS.items():
            role = f"resonanz_{service}"
            owner = await conn.fetchval(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", schema)
            assert owner == role
            stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                                         role)
            assert stored and stored.startswith("SCRAM-SHA-256$"), role
            assert not await conn.fetchval(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles"
                " WHERE rolname = $1", role)
    finally:
        await conn.close()
