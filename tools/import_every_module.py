"""Import every resonanz.* module of a source tree from wherever this Python finds it.

Meant for an installation from the wheel (the image's build stage, tests/test_packaging.py):
a module the wheel left out fails here, where an editable install would have found it in the
checkout. Run it with `python -I` from outside the checkout so that only the installation is
on the path. Prints {module: file} as JSON; exits 1 naming every module that did not import or
that came from the source tree instead of the installation.

    python -I tools/import_every_module.py SOURCE_ROOT
"""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from pathlib import Path


def source_modules(root: Path) -> list[str]:
    """Every module below the folders pyproject.toml maps onto resonanz.*, named as imported."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    names = []
    for package, folder in mapping.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            # tests/ folders are pytest's and not shipped; importing a __main__ would run it.
            if "tests" in parts[:-1] or parts[-1] == "__main__":
                continue
            names.append(".".join((package, *parts)).removesuffix(".__init__"))
    return names


def import_from_installation(names: list[str], root: Path) -> tuple[dict[str, str], list[str]]:
    found: dict[str, str] = {}
    problems = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # every module's failure is worth reporting, not just the first
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        found[name] = str(module.__file__)
        if Path(found[name]).resolve().is_relative_to(root):
            problems.append(f"{name}: imported from the source tree ({found[name]})")
    return found, problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve()
    found, problems = import_from_installation(source_modules(root), root)
    print(json.dumps(found, indent=1))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems or not found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
