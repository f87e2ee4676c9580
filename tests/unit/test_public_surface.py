"""Each module of the domain library declares its public surface (`__all__`), and no other
package reaches past it: a name that `api/`, `workflows/`, another sub-package of `pressroom`
(or any layer) imports from a module, or reads off it as `module.name`, is in that module's
`__all__`. Inside one sub-package, modules may share more.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FOLDERS = {
    "pressroom": "pressroom",
    "workflows": "pressroom.workflows",
    "activities": "pressroom.activities",
    "api": "pressroom.api",
    "starter": "pressroom.starter",
}
APP = {"workflows", "activities", "api", "starter"}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts]
            out[".".join([package, *(p for p in parts if p != "__init__")])] = path
    return out


MODULES = modules()


def area(module: str) -> str:
    """`pressroom.db.revisions` -> `pressroom.db`, `pressroom.api.jobs` -> `pressroom.api`."""
    return ".".join(module.split(".")[:2])


def domain_modules() -> Iterator[tuple[str, Path]]:
    for module, path in MODULES.items():
        if module.split(".")[1:2] and module.split(".")[1] in APP:
            continue
        if path.name != "__init__.py":
            yield module, path


def declared(path: Path) -> set[str] | None:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return None


def uses(path: Path) -> Iterator[tuple[str, str, int]]:
    """(module, name, line) for every name this file takes from a Pressroom module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}  # local name -> module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in MODULES:
                    aliases[alias.asname or alias.name] = full
                elif node.module in MODULES:
                    yield node.module, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            yield aliases[node.value.id], node.attr, node.lineno


def test_every_domain_module_declares_its_surface() -> None:
    missing = [str(p.relative_to(ROOT)) for _, p in domain_modules() if declared(p) is None]
    assert not missing, f"modules without __all__: {missing}"


def test_no_package_reaches_past_another_packages_surface() -> None:
    bad = []
    for importer, path in MODULES.items():
        for module, name, line in uses(path):
            if area(module) == area(importer) or module.split(".")[1] in APP:
                continue
            surface = declared(MODULES[module])
            if surface is not None and name not in surface:
                bad.append(f"{path.relative_to(ROOT)}:{line} uses {module}.{name}")
    assert not bad, "\n".join(sorted(set(bad)))
