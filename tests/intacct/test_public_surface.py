"""The library's public surface: ``intacct.__all__`` is what callers import, and all of it is
there; the Django app imports nothing else of the library but the sandbox's constants."""

from __future__ import annotations

import ast
from pathlib import Path

import intacct

BASE_DIR = Path(__file__).resolve().parents[2]


def test_every_public_name_is_importable() -> None:
    missing = [name for name in intacct.__all__ if not hasattr(intacct, name)]
    assert not missing
    assert len(set(intacct.__all__)) == len(intacct.__all__)


def test_the_django_app_imports_only_the_public_surface() -> None:
    for path in sorted((BASE_DIR / "connections").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("intacct")
            ):
                assert node.module in ("intacct", "intacct.sandbox"), f"{path}: {node.module}"
                if node.module == "intacct":
                    unknown = [a.name for a in node.names if a.name not in intacct.__all__]
                    assert not unknown, f"{path}: {unknown}"
