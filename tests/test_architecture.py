"""The package's design, guarded: the layers contract of docs/architecture.md (in
pyproject.toml, run by `lint-imports`) holds, and it does catch a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                "lint_imports_command()"]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(root)}
    return subprocess.run([*LINT_IMPORTS, "--config", str(REPO / "pyproject.toml"),
                           "--no-cache"], capture_output=True, text=True, cwd=root, env=env)


def test_the_layers_contract_holds() -> None:
    run = _lint(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_the_contract_catches_the_report_importing_export(tmp_path: Path) -> None:
    """The breach the contract was written against: the report reading the model
    directory through export (and the space protocol) instead of the store."""
    shutil.copytree(REPO / "autokeras_lab", tmp_path / "autokeras_lab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    html = tmp_path / "autokeras_lab" / "report" / "_html.py"
    html.write_text(html.read_text() + "\n\ndef _card_file():\n"
                    "    from autokeras_lab.export import load_model_dir\n\n"
                    "    return load_model_dir\n")
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "autokeras_lab.report._html -> autokeras_lab.export" in run.stdout, run.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_layers(tmp_path: Path) -> None:
    shutil.copytree(REPO / "autokeras_lab", tmp_path / "autokeras_lab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    types = tmp_path / "autokeras_lab" / "types.py"
    types.write_text(types.read_text() + "\n\nfrom autokeras_lab import leaderboard  # noqa\n")
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "autokeras_lab.types is not allowed to import autokeras_lab.leaderboard" in run.stdout


def test_ray_internals_are_read_in_one_room_only() -> None:
    """Only autokeras_lab/_ray_internals.py imports Ray's private modules, so a Ray
    upgrade that moves one fails there (and in tests/test_ray_internals.py)."""
    import ast

    private = ("ray._private", "ray.train._internal", "ray.tune.execution", "ray.tune.impl")
    found = []
    for path in sorted((REPO / "autokeras_lab").rglob("*.py")):
        if path.name == "_ray_internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n.startswith(private)]
    assert found == []
