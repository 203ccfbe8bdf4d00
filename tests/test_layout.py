"""The package layout's rules, read from the import graph: wings depend downward only, the core
and the figure modules never import gradio, and the page never imports the CLI."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOT_MODULES = {"errors", "storage", "classes", "vectors"}
# What each wing may import besides the root modules and itself.
ALLOWED: dict[str, set[str]] = {
    "root": set(),
    "encoding": set(),
    "strategies": set(),
    "llm": {"strategies"},
    "data": {"encoding"},
    "evaluation": {"encoding", "strategies", "data"},
    "service": {"encoding", "strategies", "llm", "data", "evaluation"},
    "cli": {"encoding", "strategies", "llm", "data", "evaluation"},
}
PLAIN_COMPONENTS = ["components/report.py", "components/tables.py", "components/figures"]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def wing_of(module: str) -> str:
    """The wing of a ``prompting`` module: its subpackage, or "root" for the shared modules."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ROOT_MODULES:
        return "root"
    return "cli" if parts[1] == "__main__" else parts[1]


def python_files(*folders: str) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        target = REPO / folder
        files += [target] if target.is_file() else sorted(target.rglob("*.py"))
    return files


def test_the_wings_are_the_ones_the_rules_name() -> None:
    wings = {p.name for p in (REPO / "prompting").iterdir() if (p / "__init__.py").is_file()}
    assert wings == set(ALLOWED) - {"root"}
    root = {p.stem for p in (REPO / "prompting").glob("*.py")} - {"__init__", "__main__"}
    assert root == ROOT_MODULES


@pytest.mark.parametrize("path", python_files("prompting"), ids=lambda p: str(p.relative_to(REPO)))
def test_prompting_modules_import_only_downward(path: Path) -> None:
    own = wing_of(module_name(path))
    for target in imported_modules(path):
        assert not target.startswith(("gradio", "components")), f"{path.name} imports {target}"
        if not target.startswith("prompting.") or target.count(".") < 1:
            continue
        other = wing_of(target)
        if other in (own, "root"):
            continue
        if other in ALLOWED:
            assert other in ALLOWED[own], f"{module_name(path)} ({own}) must not import {target} ({other})"


@pytest.mark.parametrize("path", python_files("components", "app.py"), ids=lambda p: str(p.relative_to(REPO)))
def test_the_page_never_imports_the_cli(path: Path) -> None:
    assert not any(name.startswith("prompting.cli") for name in imported_modules(path))


@pytest.mark.parametrize("path", python_files(*PLAIN_COMPONENTS), ids=lambda p: str(p.relative_to(REPO)))
def test_figures_report_and_tables_never_import_gradio_or_panels(path: Path) -> None:
    names = imported_modules(path)
    assert not any(name.startswith(("gradio", "components.panels")) for name in names)


def test_importing_the_core_and_the_figures_loads_no_gradio() -> None:
    modules = [module_name(p) for p in python_files("prompting", *PLAIN_COMPONENTS) if p.name != "__main__.py"]
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + (
        "print('gradio' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_rule_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checker itself works: an upward import is found in source text."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from prompting.service.workflows import build_specs\n")
    assert "prompting.service.workflows" in imported_modules(sample)
    assert wing_of("prompting.service.workflows") == "service"
    assert "service" not in ALLOWED["encoding"]
