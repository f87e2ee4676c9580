"""The built wheel installs beside other distributions without shadowing them.

Pressroom's application packages (workflows/, activities/, api/, starter/) live at the top of
the repository but install as `pressroom.workflows`, ... A fresh virtualenv gets the wheel
and a tiny local distribution owning a top-level `workflows` module (as the `workflows`
distribution LlamaIndex depends on does); both import, each from its own files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheels(tmp_path: Path) -> list[Path]:
    """Pressroom's wheel and the other distribution's, built offline with this venv's tools."""
    other = tmp_path / "other"
    (other / "workflows").mkdir(parents=True)
    (other / "workflows" / "__init__.py").write_text('OWNER = "someone else"\n')
    (other / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "other-workflows"
            version = "1.0"
            [tool.setuptools]
            packages = ["workflows"]
            """
        )
    )
    # A copy of the sources: setuptools builds in a `build/` folder beside them.
    source = tmp_path / "pressroom-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("pressroom", "workflows", "activities", "api", "starter"):
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    out = tmp_path / "wheels"
    for src in (source, other):
        run(
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
            "--no-index", "--quiet", "-w", out, src,
        )
    return sorted(out.glob("*.whl"))


def test_the_wheel_installs_next_to_a_top_level_workflows_package(tmp_path: Path) -> None:
    wheels = build_wheels(tmp_path)
    assert len(wheels) == 2, wheels
    venv = tmp_path / "fresh"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", *wheels)
    # Pressroom's dependencies come from this environment's site-packages (read-only, after
    # the fresh venv's own), so nothing is downloaded; the repository is not on the path.
    deps = sysconfig.get_paths()["purelib"]
    probe = textwrap.dedent(
        f"""
        import sys
        sys.path.append({deps!r})
        import workflows
        import pressroom.workflows.process_job, pressroom.api.app, pressroom.starter.cli
        import pressroom.activities.pipeline
        assert workflows.OWNER == "someone else", workflows.__file__
        for module in (workflows, pressroom.workflows.process_job, pressroom.api.app):
            assert module.__file__.startswith({str(venv)!r}), module.__file__
        print("ok")
        """
    )
    assert run(python, "-c", probe, cwd=tmp_path).strip() == "ok"
    # The console script is installed and names the namespaced entry point.
    script = (venv / "bin" / "pressroom").read_text()
    assert "pressroom.starter.cli" in script


def test_every_package_folder_is_in_the_wheel() -> None:
    """pyproject's explicit package list matches the folders on disk (a new sub-package that
    is not listed would be missing from the installed wheel)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    on_disk = set()
    for package, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            on_disk.add(".".join([package, *rel]))
    assert set(config["packages"]) == on_disk
