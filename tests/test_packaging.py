"""What an installation of the project really gets: the wheel, not the checkout.

An editable install finds every module in the checkout, so a package or data file that the
build leaves out shows only in the image (`python -m resonanz.gateway`: ModuleNotFoundError).
Here the wheel is built as the Dockerfile builds it (the build backend from
requirements-build.lock, no build isolation), installed with --no-deps into a fresh virtualenv
whose dependencies come from requirements.lock, and run from there. The lockfiles are also
held to pyproject.toml, so that a pin cannot be bumped in one and forgotten in the other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from resonanz.devstack.supervisor import free_port, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
LOCKS = (RUNTIME_LOCK, DEV_LOCK, BUILD_LOCK)
IMPORT_EVERY_MODULE = ROOT / "tools" / "import_every_module.py"

# What the Dockerfile copies to build the wheel (test_deploy holds it to the same list).
BUILD_SOURCES = ("pyproject.toml", "setup.py", "LICENSE", "shared", "services")
SERVICES = ("gateway", "feedback", "widgets", "webhook_dispatcher", "analytics", "dashboard")
DASHBOARD_STATIC = ROOT / "services" / "dashboard" / "static"

# The first test also waits for the fresh venv and the wheel: ~30 s on a quiet machine, mostly
# pip reading the index, but several minutes on a loaded one; the default 300 s is too tight.
pytestmark = pytest.mark.timeout(900)


def _pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _mapped_folders() -> dict[str, str]:
    """Package -> folder, for what the image ships: the folders inside BUILD_SOURCES (the
    development supervisor under tools/devstack is mapped for editable installs only)."""
    folders: dict[str, str] = _pyproject()["tool"]["setuptools"]["package-dir"]
    return {package: folder for package, folder in folders.items()
            if Path(folder).parts[0] in BUILD_SOURCES}


def _run(args: list[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=_clean_env(),
                            capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result


def _clean_env() -> dict[str, str]:
    """This process's environment without what would point a child at the checkout's venv or
    configure the services."""
    dropped = ("RESONANZ_", "PYTHON", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def _pip_args(python: Path, *args: str | Path) -> list[str | Path]:
    """This venv's pip, working on another interpreter's environment (which needs no pip)."""
    return [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check",
            "-q", *args]


def _fresh_venv(path: Path) -> Path:
    _run([sys.executable, "-m", "venv", "--without-pip", path])
    return path / "bin" / "python"


# --- the wheel ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtime_venv(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A fresh venv receiving requirements.lock, as the image's first layer does. It is still
    installing when handed out, so that the wheel builds meanwhile (together most of the time
    these tests take)."""
    python = _fresh_venv(tmp_path_factory.mktemp("venv"))
    args = _pip_args(python, "install", "--no-compile", "--require-hashes", "-r", RUNTIME_LOCK)
    with _install_log(python).open("w") as log, subprocess.Popen(
        [str(a) for a in args], env=_clean_env(), stdout=log, stderr=subprocess.STDOUT, text=True
    ) as process:
        yield python, process


def _install_log(python: Path) -> Path:
    return python.parent.parent / "install.log"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    # A copy, so that no build/ left in the checkout (setuptools reuses it) adds stale files.
    source = work / "source"
    source.mkdir()
    for name in BUILD_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    builder = _fresh_venv(work / "build-venv")
    _run(_pip_args(builder, "install", "--no-compile", "--require-hashes", "-r", BUILD_LOCK))
    _run(_pip_args(builder, "wheel", "--no-build-isolation", "--no-deps",
                   "--wheel-dir", work / "dist", source))
    [built] = (work / "dist").glob("resonanz-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(runtime_venv: tuple[Path, subprocess.Popen[str]], wheel: Path) -> Path:
    """The python of the fresh venv, once it holds requirements.lock and the wheel."""
    python, dependencies = runtime_venv
    dependencies.wait(timeout=240)
    assert dependencies.returncode == 0, (
        f"installing {RUNTIME_LOCK.name}:\n{_install_log(python).read_text()}")
    _run(_pip_args(python, "install", "--no-compile", "--no-deps", wheel))
    _run(_pip_args(python, "check"))  # the lock holds everything the wheel requires
    return python


def _shipped_files() -> dict[str, Path]:
    """Path inside the wheel -> source file, for every file below the mapped folders except
    pytest's tests/ folders and bytecode."""
    shipped = {}
    for package, folder in _mapped_folders().items():
        base = ROOT / folder
        for path in base.rglob("*"):
            parts = path.relative_to(base).parts
            if path.is_file() and not {"tests", "__pycache__"} & set(parts[:-1]):
                shipped["/".join((*package.split("."), *parts))] = path
    return shipped


def test_every_module_imports_from_the_wheel(
    installed: Path, wheel: Path, tmp_path: Path
) -> None:
    # -I and a cwd outside the checkout: only the fresh venv is on the path. The modules to
    # import are those of the sources the wheel was built from, as in the image's build.
    source = wheel.parent.parent / "source"
    result = _run([installed, "-I", IMPORT_EVERY_MODULE, source], cwd=tmp_path)
    imported: dict[str, str] = json.loads(result.stdout)
    venv = installed.parent.parent.resolve()
    assert set(_mapped_folders()) <= set(imported)
    outside = {name: file for name, file in imported.items()
               if not Path(file).resolve().is_relative_to(venv)}
    assert not outside, f"not imported from the fresh venv {venv}: {outside}"


def test_wheel_holds_every_module_and_data_file_of_the_source_tree(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    missing = sorted(str(source.relative_to(ROOT))
                     for name, source in _shipped_files().items() if name not in in_wheel)
    assert not missing, f"{wheel.name} leaves out:\n" + "\n".join(missing)
    version = _pyproject()["project"]["version"]
    assert f"resonanz-{version}.dist-info/licenses/LICENSE" in in_wheel, "no licence file"
    assert not [name for name in in_wheel if name.startswith("resonanz/devstack/")], (
        "the development supervisor is not part of the image")


def test_dashboard_serves_its_app_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    """The dashboard's pages are package data, not modules: nothing imports them, so only a
    request shows one missing. The installed service serves the shell and, under the build
    id the shell names, every file of the source tree's static folder as it is there."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "dashboard.log").open("w") as log, subprocess.Popen(
        [str(installed), "-I", "-m", "resonanz.dashboard"], cwd=tmp_path,
        env={**_clean_env(), "RESONANZ_PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT,
    ) as dashboard:
        try:
            wait_until_ok(f"{base}/readyz", time.monotonic() + 60, "the installed dashboard")
            shell = _get(f"{base}/app/").decode()
            build = re.search(r"/app/assets/([0-9a-f]+)/app\.js", shell)
            assert build, shell
            # The modules, the style sheet and the vendored library (its README and
            # licence travel in the wheel but are not served).
            assets = sorted(p for p in DASHBOARD_STATIC.rglob("*") if p.suffix in (".js", ".css"))
            assert any(p.parent.name == "vendor" for p in assets)
            for source in assets:
                name = source.relative_to(DASHBOARD_STATIC).as_posix()
                served = _get(f"{base}/app/assets/{build[1]}/{name}")
                assert served == source.read_bytes(), f"{name} differs from the source"
            assert _get(f"{base}/app/preview").startswith(b"<!doctype html>")
        finally:
            dashboard.terminate()
            dashboard.wait(timeout=20)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


@pytest.mark.parametrize("service", SERVICES)
def test_service_entry_point_runs_from_the_wheel(
    installed: Path, service: str, tmp_path: Path
) -> None:
    result = _run([installed, "-I", "-m", f"resonanz.{service}", "--help"], cwd=tmp_path)
    assert f"python -m resonanz.{service}" in result.stdout



def test_time_zones_come_with_the_installation(installed: Path, tmp_path: Path) -> None:
    """The slim image has no system zone data (/usr/share/zoneinfo): zoneinfo must find the
    zones in the locked tzdata package, or every tenant's analytics and every zone name a
    shop sets would fail. PYTHONTZPATH pointing at an empty folder hides the system's."""
    empty = tmp_path / "no-zoneinfo"
    empty.mkdir()
    check = ("from datetime import datetime; from zoneinfo import ZoneInfo;"
             " from resonanz.shared.contracts import known_timezone;"
             " [known_timezone(z) for z in ('Europe/Berlin', 'Asia/Kathmandu', 'UTC')];"
             " print(datetime(2026, 7, 1, 12, tzinfo=ZoneInfo('Europe/Berlin')).utcoffset())")
    result = subprocess.run([str(installed), "-I", "-c", check], cwd=tmp_path,
                            env={**_clean_env(), "PYTHONTZPATH": str(empty)},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2:00:00"


# --- the lockfiles -----------------------------------------------------------------------

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _lock_entries(lock: Path) -> list[str]:
    """One string per requirement, its continuation lines joined."""
    text = re.sub(r"\\\n", " ", lock.read_text(encoding="utf-8"))
    return [line for line in text.splitlines() if line.strip() and not line.startswith(" ")
            and not line.startswith("#")]


def _lock_pins(lock: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for entry in _lock_entries(lock):
        match = PIN.match(entry)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _exact_pins(requirements: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in requirements:
        requirement = Requirement(line)
        [*specs] = requirement.specifier
        if len(specs) == 1 and specs[0].operator == "==":
            pins[canonicalize_name(requirement.name)] = specs[0].version
    return pins


def _disagreements(wanted: dict[str, str], lock: Path) -> list[str]:
    locked = _lock_pins(lock)
    return [f"{name}=={version} (locked: {locked.get(name, 'missing')})"
            for name, version in sorted(wanted.items()) if locked.get(name) != version]


def test_locks_hold_every_pin_of_pyproject_at_its_version() -> None:
    project = _pyproject()["project"]
    runtime = _exact_pins(project["dependencies"])
    extras = {name: _exact_pins(reqs) for name, reqs in project["optional-dependencies"].items()}
    assert runtime and extras["dev"]
    dev = dict(runtime)
    for pins in extras.values():
        dev.update(pins)
    for lock, wanted in ((RUNTIME_LOCK, runtime), (DEV_LOCK, dev)):
        wrong = _disagreements(wanted, lock)
        assert not wrong, f"{lock.name} disagrees with pyproject.toml (run `make lock`): {wrong}"


def test_dev_lock_runs_the_same_versions_as_the_image() -> None:
    wrong = _disagreements(_lock_pins(RUNTIME_LOCK), DEV_LOCK)
    assert not wrong, f"requirements-dev.lock differs from requirements.lock: {wrong}"


def test_build_lock_satisfies_the_build_system() -> None:
    locked = _lock_pins(BUILD_LOCK)
    for line in _pyproject()["build-system"]["requires"]:
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        assert version is not None and requirement.specifier.contains(version), (
            f"requirements-build.lock has {requirement.name}=={version}, pyproject wants {line}")


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.name)
def test_lock_is_exact_hashed_and_portable(lock: Path) -> None:
    entries = _lock_entries(lock)
    assert entries
    for entry in entries:
        # No index or find-links options and no file:// URL: the image and every machine
        # install from the registry, whatever pip is configured with where the lock was made.
        assert PIN.match(entry), f"{lock.name}: not a name==version pin: {entry[:120]}"
        assert "--hash=sha256:" in entry, f"{lock.name}: no hash: {entry[:120]}"
    assert "file:" not in lock.read_text(encoding="utf-8")
