"""The settings tables and the settings module agree. docs/configuration.md documents every
Settings variable with a default, no unknown variable, and literal defaults that match; the
README's production table is a subset of it, row for row. Also the external-service settings
that turn into client options (Temporal TLS)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pressroom.api.temporal import tls_config
from temporalio.service import TLSConfig

from pressroom.config import Settings
from pressroom.durations import parse_duration

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
_VAR = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def table_lines(path: Path, heading: str) -> list[str]:
    """The rows of the table under `## {heading}` in `path`."""
    text = path.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("| `")]


def config_rows() -> list[tuple[list[str], str]]:
    """(variables, default cell) for each row of the full table in docs/configuration.md."""
    rows = []
    for line in table_lines(CONFIGURATION, "Configuration"):
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((_VAR.findall(cells[0]), cells[1] if len(cells) > 1 else ""))
    return rows


def test_the_readme_production_table_is_rows_of_the_full_table() -> None:
    full = set(table_lines(CONFIGURATION, "Configuration"))
    production = table_lines(README, "Production configuration")
    assert len(production) >= 15
    stale = [line[:60] for line in production if line not in full]
    assert not stale, f"README rows that differ from docs/configuration.md: {stale}"


def aliases() -> dict[str, Any]:
    fields = Settings.model_fields.values()
    return {
        f.alias: (f.default_factory() if f.default_factory else f.default)  # type: ignore[call-arg]
        for f in fields
        if f.alias
    }


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = [var for names, _ in config_rows() for var in names]
    known = aliases()
    missing = sorted(set(known) - set(documented))
    unknown = sorted(set(documented) - set(known))
    assert not missing, f"Settings variables missing from docs/configuration.md: {missing}"
    assert not unknown, f"docs/configuration.md lists unknown variables: {unknown}"
    assert len(documented) == len(set(documented)), "a variable is listed twice"


def test_every_row_has_a_default() -> None:
    for names, default in config_rows():
        assert default, f"{names}: empty default column"


def _literal_matches(cell: str, value: Any) -> bool:
    if isinstance(value, bool):
        return cell.lower() == str(value).lower()
    if isinstance(value, timedelta):  # documented as the setting is written: `7d`, `1h`
        return parse_duration(cell) == value
    if isinstance(value, int | float):
        try:
            return float(cell) == float(value)
        except ValueError:
            return False
    return cell == str(value)


def test_documented_defaults_match_the_settings() -> None:
    """A default written as one literal (`x`) equals the Settings default; a default starting
    with "unset" belongs to a variable whose default is None or empty."""
    known = aliases()
    checked = 0
    for names, cell in config_rows():
        literals = re.findall(r"`([^`]*)`", cell)
        if cell.startswith("unset"):
            for name in names:
                assert known[name] in (None, [], ""), f"{name}: documented as unset"
            checked += len(names)
        elif len(names) == 1 and len(literals) == 1 and cell == f"`{literals[0]}`":
            assert _literal_matches(literals[0], known[names[0]]), (
                f"{names[0]}: documented default {cell}, Settings default {known[names[0]]!r}"
            )
            checked += 1
    documented = sum(len(names) for names, _ in config_rows())
    assert checked >= documented * 3 // 4  # most rows are checkable, so this test has teeth


def test_list_settings_parse_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWORK_ALLOWLIST", "127.0.0.1, ::1,,hooks.internal")
    monkeypatch.setenv("SOURCE_ROOTS", "/srv/a,/srv/b")
    monkeypatch.setenv("SOURCE_S3_BUCKETS", "blog-sources")
    settings = Settings()
    assert settings.network_allowlist == ["127.0.0.1", "::1", "hooks.internal"]
    assert settings.source_roots == [Path("/srv/a"), Path("/srv/b")]
    assert settings.source_s3_buckets == ["blog-sources"]


def test_temporal_tls_options(tmp_path: Path) -> None:
    assert tls_config(Settings()) is False
    assert tls_config(Settings(temporal_tls=True)) is True
    assert tls_config(Settings(temporal_api_key="key")) is True
    cert, key, ca = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")
    mtls = tls_config(Settings(temporal_tls_cert=cert, temporal_tls_key=key))
    assert isinstance(mtls, TLSConfig)
    assert (mtls.client_cert, mtls.client_private_key, mtls.server_root_ca_cert) == (
        b"CERT",
        b"KEY",
        None,
    )
    private_ca = tls_config(Settings(temporal_tls_ca=ca))
    assert isinstance(private_ca, TLSConfig) and private_ca.server_root_ca_cert == b"CA"
    with pytest.raises(ValueError, match="together"):
        tls_config(Settings(temporal_tls_cert=cert))
