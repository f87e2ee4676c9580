"""The layers of docs/architecture.md, enforced over the source: which package may import what.

Read with `ast`, not by importing, so a forbidden import inside a function (a lazy import) is
caught too. Names are resolved from the folder a file lives in: `workflows/x.py` is
`pressroom.workflows.x`, and relative imports are resolved against it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FOLDERS = {  # folder -> its installed package
    "pressroom": "pressroom",
    "workflows": "pressroom.workflows",
    "activities": "pressroom.activities",
    "api": "pressroom.api",
    "starter": "pressroom.starter",
}
APP = ("pressroom.workflows", "pressroom.activities", "pressroom.api", "pressroom.starter")
# The old top-level names: nothing may import them any more (they would shadow others).
OLD_TOP_LEVEL = ("workflows", "activities", "api", "starter", "worker")

# Layer -> import prefixes it must never use.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The domain library is plain Python: no Temporal, no application package.
    "pressroom": ("temporalio", *APP),
    # Workflow code is deterministic: no I/O clients (activities are referenced, not run).
    "pressroom.workflows": (
        "aiohttp", "asyncpg", "aioboto3", "boto3", "botocore", "openai", "httpx", "PIL",
        "pressroom.api", "pressroom.starter",
    ),
    "pressroom.activities": ("pressroom.api", "pressroom.starter"),
    "pressroom.api": ("pressroom.activities", "pressroom.starter"),
}


def modules() -> list[tuple[str, Path]]:
    out = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out.append((".".join([package, *parts]), path))
    return out


def imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every module `path` imports (absolute names), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def layer_of(module: str) -> str:
    for app in APP:
        if module == app or module.startswith(app + "."):
            return app
    return "pressroom"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_tree_has_the_layers() -> None:
    found = {layer_of(m) for m, _ in modules()}
    assert found == {"pressroom", *APP}
    assert len(modules()) > 80


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_what_it_must_not(layer: str) -> None:
    bad = []
    for module, path in modules():
        if layer_of(module) != layer:
            continue
        for name, line in imports(module, path):
            if any(_under(name, prefix) for prefix in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_old_top_level_names() -> None:
    bad = []
    tests = [(f"tests.{p.stem}", p) for p in (ROOT / "tests").rglob("*.py")]
    for module, path in [*modules(), *tests]:
        for name, line in imports(module, path):
            if name.split(".")[0] in OLD_TOP_LEVEL:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The test has teeth: a domain module importing temporalio is found."""
    sample = tmp_path / "bad.py"
    sample.write_text("def f():\n    from temporalio import workflow\n    return workflow\n")
    names = [name for name, _ in imports("pressroom.bad", sample)]
    assert any(_under(n, "temporalio") for n in names)
