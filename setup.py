"""Finds the resonanz.* packages instead of listing them.

Everything else lives in pyproject.toml. setuptools' own discovery (`packages.find`) cannot
prefix what it finds with the import name that `[tool.setuptools.package-dir]` maps a folder
onto, and a hand-kept list once left `resonanz.gateway.public` out of the wheel (editable
installs hid it). So walk each mapped folder: every folder with an `__init__.py` below it is
a package; folders named `tests` are pytest's, not the product's.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
NOT_SHIPPED = ["tests", "tests.*", "*.tests", "*.tests.*"]


def mapped_folders() -> dict[str, str]:
    """Import name -> folder, as pyproject.toml maps them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    folders: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return folders


def resonanz_packages() -> list[str]:
    packages = []
    for name, folder in mapped_folders().items():
        if not (ROOT / folder).is_dir():
            continue  # the image's build copies no tools/devstack: development only
        below = find_packages(where=str(ROOT / folder), exclude=NOT_SHIPPED)
        packages += [name, *(f"{name}.{sub}" for sub in below)]
    return sorted(packages)


setup(packages=resonanz_packages())
