"""Run mypy over the `resonanz.*` namespace as the package maps it onto the folders.

mypy cannot follow setuptools' editable finder, and `webhook-dispatcher` is not a
valid package name on disk, so build a tree of symlinks named as the import
namespace and check every module in it by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def link_tree() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    modules = []
    for package, folder in mapping.items():
        link = TREE.joinpath(*package.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ROOT / folder, target_is_directory=True)
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            modules.append(name)
    return modules


def main() -> int:
    tests = sorted((ROOT / "tests").glob("*.py"))
    modules = link_tree() + [f"tests.{p.stem}" for p in tests if p.stem != "__init__"]
    args = [arg for m in modules for arg in ("-m", m)]
    env = {**os.environ, "MYPYPATH": str(TREE)}
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, env=env,
                          check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
