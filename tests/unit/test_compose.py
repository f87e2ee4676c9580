"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the services, ports
and volumes docs/operations.md promises exist; healthchecks and depends_on conditions line up; every
variable the api and worker get is a Settings variable with a valid value; and the wiring
between services (bucket, credentials, database, Temporal address) is consistent."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pressroom.config import Settings
from pressroom.storage.s3_config import parse_s3_url

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
COMPOSE = ROOT / "docker-compose.yml"
README = ROOT / "docs" / "operations.md"  # the docker-compose section
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = ("api", "worker")
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def readme_services() -> dict[str, tuple[set[str], set[str]]]:
    """service -> (published ports, volumes) from the README's docker-compose table."""
    table: dict[str, tuple[set[str], set[str]]] = {}
    for line in readme_section("docker-compose").splitlines():
        if not line.startswith("| `"):
            continue
        name, _what, ports, volumes = [c.strip() for c in line.strip().strip("|").split("|")]
        table[name.strip("`")] = (
            set(re.findall(r"`(\d+)`", ports)),
            set(re.findall(r"`([^`]+)`", volumes)),
        )
    return table


def published_ports(service: dict[str, Any]) -> set[str]:
    return {str(p).split(":")[0] for p in service.get("ports", [])}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """source -> target of a service's volumes (short syntax)."""
    found = {}
    for entry in service.get("volumes", []):
        source, target = str(entry).split(":")[:2]
        found[source] = target
    return found


def env_default(value: str) -> str:
    """A compose value with `${VAR:-default}` replaced by its default."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def test_readme_services_ports_and_volumes_exist(compose: dict[str, Any]) -> None:
    promised = readme_services()
    assert set(promised) == set(services(compose)), "README table and compose disagree"
    named_volumes = set(compose.get("volumes") or {})
    for name, (ports, volumes) in promised.items():
        service = services(compose)[name]
        assert published_ports(service) == ports, name
        mounted = mounts(service)
        for volume in volumes:
            assert volume in mounted, f"{name} does not mount {volume}"
            if not volume.startswith("."):
                assert volume in named_volumes, f"volume {volume} is not declared"
    # Every declared volume is used, and every bind-mounted file exists in the repository.
    used = {src for svc in services(compose).values() for src in mounts(svc)}
    assert named_volumes <= used
    for svc in services(compose).values():
        for source in mounts(svc):
            if source.startswith("./deploy/"):
                script = ROOT / source
                assert script.is_file(), source
                assert os.access(script, os.X_OK) or script.suffix == ".sql", source


def test_healthchecks_and_dependencies(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    for name, service in all_services.items():
        one_shot = service.get("restart") == "no"
        assert one_shot or "healthcheck" in service, f"{name}: no healthcheck"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, spec in depends.items():
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in all_services[target], f"{name} -> {target}"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
                assert all_services[target].get("restart") == "no", f"{name} -> {target}"
    for app in APP_SERVICES:
        depends = all_services[app]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["temporal-setup"]["condition"] == "service_completed_successfully"
        assert depends["minio-setup"]["condition"] == "service_completed_successfully"
    assert all_services["temporal-setup"]["depends_on"]["temporal"]["condition"] == (
        "service_healthy"
    )


def test_app_environment_is_settings(compose: dict[str, Any]) -> None:
    known = {f.alias for f in Settings.model_fields.values() if f.alias}
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme_section("docker-compose")))
    for app in APP_SERVICES:
        service = services(compose)[app]
        assert service["build"] == "." and DOCKERFILE.is_file()
        env: dict[str, Any] = service["environment"]
        unknown = sorted(set(env) - known)
        assert not unknown, f"{app} sets variables Settings does not read: {unknown}"
        # The README's list of what the services get is what they get.
        promised = documented & known
        assert promised <= set(env), sorted(promised - set(env))
        # Values (with their ${VAR:-default} defaults) are valid settings.
        values = {k: env_default(str(v)) for k, v in env.items() if v is not None}
        settings = Settings(**values)
        assert settings.api_port == 8080
        assert settings.artifacts_location.startswith("s3://")


def test_services_are_wired_consistently(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    worker_env = all_services["worker"]["environment"]
    assert all_services["api"]["environment"]["ARTIFACTS_URL"] == worker_env["ARTIFACTS_URL"]

    # Temporal: the address names the temporal service and its published frontend port.
    host, port = worker_env["TEMPORAL_ADDRESS"].split(":")
    assert host == "temporal" and port in published_ports(all_services["temporal"])
    assert all_services["temporal-setup"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"

    # Postgres: one instance, Pressroom's own database and role, with the init script's password.
    db = urlsplit(env_default(worker_env["DATABASE_URL"]))
    postgres = all_services["postgres"]
    assert db.hostname == "postgres" and db.path == "/pressroom" and db.username == "pressroom"
    assert db.password == env_default(postgres["environment"]["PRESSROOM_DB_PASSWORD"])
    assert "/docker-entrypoint-initdb.d/" in " ".join(mounts(postgres).values())
    temporal_env = all_services["temporal"]["environment"]
    assert temporal_env["POSTGRES_SEEDS"] == "postgres"
    assert temporal_env["POSTGRES_PWD"] == postgres["environment"]["POSTGRES_PASSWORD"]
    assert temporal_env["DBNAME"] != "pressroom" != temporal_env["VISIBILITY_DBNAME"]

    # MinIO: the store's bucket is the one the setup job creates, with the root credentials.
    bucket, _prefix = parse_s3_url(worker_env["ARTIFACTS_URL"])
    assert all_services["minio-setup"]["environment"]["PRESSROOM_BUCKET"] == bucket
    assert urlsplit(worker_env["S3_ENDPOINT_URL"]).hostname == "minio"
    minio_env = all_services["minio"]["environment"]
    assert worker_env["AWS_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
    assert worker_env["AWS_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"]
    assert worker_env["S3_ADDRESSING_STYLE"] == "path"

    # Local sources: the policy root is the read-only mount.
    worker_mounts = mounts(all_services["worker"])
    assert worker_env["SOURCE_ROOTS"] in worker_mounts.values()
    # api and worker share the state volume (the sealing key lives there).
    state = worker_env["PRESSROOM_STATE_DIR"]
    assert {k for k, v in mounts(all_services["api"]).items() if v == state} == {
        k for k, v in worker_mounts.items() if v == state
    }


def test_dockerfile_is_multi_stage_slim_and_unprivileged() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.split(r"(?m)^FROM ", text)[1:]
    assert len(stages) >= 2, "multi-stage build"
    assert all(stage.startswith("python:3.11-slim") for stage in stages)
    final = stages[-1]
    assert "build-essential" in stages[0] and "build-essential" not in final
    assert not re.search(r"\b(gcc|g\+\+|make|build-essential)\b", final)
    assert "COPY --from=build" in final
    users = re.findall(r"(?m)^USER (\S+)", final)
    assert users and users[-1] not in ("root", "0")
    assert " git " in final  # git sources need the git binary at run time
