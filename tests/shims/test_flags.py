"""The per-service flag: precedence, both file forms, rollout, every error message."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import shims
from shims import config as flags
from shims._errors import FlagError
from shims.config import (
    BackendDecision,
    find_config,
    in_rollout,
    instance_id,
    load_config,
    resolve_backend,
    service_env_var,
)

PYPROJECT = """\
[project]
name = "fleet"

[tool.migrate]
default_backend = "asyncio"

[tool.migrate.services.pdf-export]
backend = "uvloop"
paths = ["services/pdf"]

[tool.migrate.services.billing]
backend = "asyncio"
rollout = 30
"""

MIGRATE_TOML = """\
default_backend = "legacy"

[services.pdf-export]
backend = "asyncio"

[services."odd.name"]
backend = "uvloop"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def resolve(tmp_path: Path, service: str | None = "pdf-export", **env: str) -> BackendDecision:
    return resolve_backend(service, environ=env, cwd=tmp_path)


# --- names ---------------------------------------------------------------------------------


def test_bundled_backends_are_registered_default_first() -> None:
    bundled = ["legacy", "asyncio", "uvloop"]  # expected value, not a source of names
    assert shims.backends.names(available=False)[:3] == bundled


@pytest.mark.parametrize(
    ("service", "var"),
    [
        ("pdf-export", "MIGRATE_BACKEND_PDF_EXPORT"),
        ("api", "MIGRATE_BACKEND_API"),
        ("a.b c/d", "MIGRATE_BACKEND_A_B_C_D"),
        ("Mixed9", "MIGRATE_BACKEND_MIXED9"),
        ("café", "MIGRATE_BACKEND_CAF_"),
    ],
)
def test_service_env_var(service: str, var: str) -> None:
    assert service_env_var(service) == var


def test_instance_id_prefers_environment() -> None:
    assert instance_id({"MIGRATE_INSTANCE": "web-3"}) == "web-3"


def test_instance_id_falls_back_to_hostname() -> None:
    import socket

    assert instance_id({}) == socket.gethostname()
    assert instance_id({"MIGRATE_INSTANCE": ""}) == socket.gethostname()


# --- precedence ----------------------------------------------------------------------------


def test_builtin_default_without_any_config(tmp_path: Path) -> None:
    assert resolve(tmp_path) == BackendDecision("legacy", "built-in default", "pdf-export")


def test_argument_beats_everything(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    decision = resolve_backend(
        "pdf-export",
        backend="asyncio",
        environ={"MIGRATE_BACKEND_PDF_EXPORT": "legacy", "MIGRATE_BACKEND": "legacy"},
        cwd=tmp_path,
    )
    assert decision == BackendDecision("asyncio", "argument backend='asyncio'", "pdf-export")


def test_service_env_beats_global_env_and_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    decision = resolve(tmp_path, MIGRATE_BACKEND_PDF_EXPORT="legacy", MIGRATE_BACKEND="asyncio")
    assert decision == BackendDecision(
        "legacy", "environment MIGRATE_BACKEND_PDF_EXPORT", "pdf-export"
    )


def test_global_env_beats_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    decision = resolve(tmp_path, MIGRATE_BACKEND="legacy")
    assert decision == BackendDecision("legacy", "environment MIGRATE_BACKEND", "pdf-export")


def test_other_service_env_does_not_apply(tmp_path: Path) -> None:
    decision = resolve(tmp_path, MIGRATE_BACKEND_BILLING="asyncio")
    assert decision.backend == "legacy"


def test_empty_env_counts_as_unset(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", MIGRATE_TOML)
    decision = resolve(tmp_path, MIGRATE_BACKEND_PDF_EXPORT="", MIGRATE_BACKEND=" ")
    assert decision.backend == "asyncio"


def test_service_table_in_pyproject(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    decision = resolve(tmp_path)
    assert decision == BackendDecision(
        "uvloop", f"{path} [tool.migrate.services.pdf-export]", "pdf-export"
    )


def test_service_table_in_migrate_toml(tmp_path: Path) -> None:
    path = write(tmp_path / "migrate.toml", MIGRATE_TOML)
    assert resolve(tmp_path).source == f"{path} [services.pdf-export]"
    odd = resolve(tmp_path, "odd.name")
    assert odd == BackendDecision("uvloop", f'{path} [services."odd.name"]', "odd.name")


def test_unlisted_service_takes_file_default(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    decision = resolve(tmp_path, "search")
    assert decision == BackendDecision("asyncio", f"{path} default_backend", "search")


def test_no_service_takes_file_default(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    assert resolve(tmp_path, None) == BackendDecision("asyncio", f"{path} default_backend", None)


def test_file_without_default_uses_builtin(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", '[services.api]\nbackend = "asyncio"\n')
    assert resolve(tmp_path, "web") == BackendDecision("legacy", "built-in default", "web")


# --- finding the file ------------------------------------------------------------------------


def test_nearest_file_upward_wins(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", MIGRATE_TOML)
    inner = write(tmp_path / "a" / "pyproject.toml", PYPROJECT)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config(deep, {}) == inner
    assert resolve(deep).backend == "uvloop"
    assert find_config(tmp_path / "a" / "..", {}) is not None


def test_pyproject_without_migrate_table_is_passed_over(tmp_path: Path) -> None:
    outer = write(tmp_path / "migrate.toml", MIGRATE_TOML)
    write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "pkg"\n')
    write(tmp_path / "pkg2" / "pyproject.toml", '[project]\nname = "migrate-helper"\n')
    assert find_config(tmp_path / "pkg", {}) == outer
    assert find_config(tmp_path / "pkg2", {}) == outer


def test_migrate_toml_wins_over_pyproject_in_same_dir(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    chosen = write(tmp_path / "migrate.toml", MIGRATE_TOML)
    assert find_config(tmp_path, {}) == chosen


def test_no_config_anywhere(tmp_path: Path) -> None:
    assert find_config(tmp_path, {}) is None


def test_migrate_config_env_wins_over_nearest(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    other = write(tmp_path / "elsewhere" / "fleet.toml", MIGRATE_TOML)
    env = {"MIGRATE_CONFIG": str(other)}
    assert find_config(tmp_path, env) == other
    decision = resolve_backend("pdf-export", environ=env, cwd=tmp_path)
    assert decision == BackendDecision("asyncio", f"{other} [services.pdf-export]", "pdf-export")


def test_migrate_config_relative_to_cwd(tmp_path: Path) -> None:
    target = write(tmp_path / "conf" / "pyproject.toml", PYPROJECT)
    assert find_config(tmp_path, {"MIGRATE_CONFIG": "conf/pyproject.toml"}) == target


def test_migrate_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FlagError, match=r"MIGRATE_CONFIG='/nope/x.toml' is not a file"):
        find_config(tmp_path, {"MIGRATE_CONFIG": "/nope/x.toml"})


def test_file_is_not_read_when_env_decides(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", "this is = = not toml")
    assert resolve(tmp_path, MIGRATE_BACKEND="asyncio").backend == "asyncio"
    with pytest.raises(FlagError, match="malformed TOML"):
        resolve(tmp_path)


# --- rollout -------------------------------------------------------------------------------


def test_rollout_in_and_out(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    ins = [f"web-{i}" for i in range(200) if in_rollout("billing", f"web-{i}", 30)]
    outs = [f"web-{i}" for i in range(200) if not in_rollout("billing", f"web-{i}", 30)]
    assert ins
    assert outs
    decision = resolve(tmp_path, "billing", MIGRATE_INSTANCE=ins[0])
    table = f"{path} [tool.migrate.services.billing]"
    assert decision == BackendDecision(
        "asyncio", f"{table} (rollout 30%: instance {ins[0]!r} in)", "billing"
    )
    decision = resolve(tmp_path, "billing", MIGRATE_INSTANCE=outs[0])
    assert decision == BackendDecision(
        "asyncio",
        f"{table} (rollout 30%: instance {outs[0]!r} out) -> {path} default_backend",
        "billing",
    )


def test_rollout_out_falls_back_to_builtin_default(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", '[services.api]\nbackend = "asyncio"\nrollout = 0\n')
    decision = resolve(tmp_path, "api", MIGRATE_INSTANCE="web-1")
    assert decision.backend == "legacy"
    assert decision.source.endswith("(rollout 0%: instance 'web-1' out) -> built-in default")


def test_rollout_share_is_roughly_right() -> None:
    instances = [f"host-{i}" for i in range(4000)]
    share = sum(in_rollout("pdf-export", i, 25) for i in instances) / len(instances)
    assert 0.20 < share < 0.30


def test_rollout_is_monotonic_and_sticky() -> None:
    instances = [f"i-{i:04d}" for i in range(1000)]
    previous: set[str] = set()
    for percent in range(101):
        current = {i for i in instances if in_rollout("svc", i, percent)}
        assert previous <= current, f"raising to {percent}% removed {previous - current}"
        previous = current
    assert previous == set(instances)
    assert not any(in_rollout("svc", i, 0) for i in instances)
    assert [in_rollout("svc", i, 50) for i in instances] == [
        in_rollout("svc", i, 50) for i in instances
    ]


def test_rollout_buckets_differ_per_service() -> None:
    instances = [f"i-{i}" for i in range(200)]
    a = {i for i in instances if in_rollout("alpha", i, 50)}
    b = {i for i in instances if in_rollout("beta", i, 50)}
    assert a != b


@pytest.mark.parametrize("bad", [-1, 101, True])
def test_in_rollout_rejects_bad_percent(bad: int) -> None:
    with pytest.raises(FlagError, match=r"must be an integer percentage from 0 to 100, got"):
        in_rollout("svc", "i", bad)


# --- errors --------------------------------------------------------------------------------


def test_unknown_backend_argument() -> None:
    with pytest.raises(
        FlagError,
        match=r"argument backend: unknown backend 'asyncoi' \(did you mean 'asyncio'\?\); "
        r"valid backends: legacy, asyncio, uvloop, twisted",
    ):
        resolve_backend("x", backend="asyncoi", environ={})


def test_unknown_backend_in_service_env(tmp_path: Path) -> None:
    with pytest.raises(
        FlagError,
        match=r"environment MIGRATE_BACKEND_PDF_EXPORT: unknown backend 'trio'; "
        r"valid backends: legacy, asyncio, uvloop, twisted",
    ):
        resolve(tmp_path, MIGRATE_BACKEND_PDF_EXPORT="trio")


def test_unknown_backend_in_global_env(tmp_path: Path) -> None:
    with pytest.raises(FlagError, match=r"environment MIGRATE_BACKEND: unknown backend 'Asyncio'"):
        resolve(tmp_path, MIGRATE_BACKEND="Asyncio")


def test_unknown_backend_in_file(tmp_path: Path) -> None:
    path = write(tmp_path / "migrate.toml", '[services.api]\nbackend = "gevent"\n')
    with pytest.raises(FlagError) as info:
        resolve(tmp_path, "api")
    assert str(info.value) == (
        f"{path} [services.api] backend: unknown backend 'gevent'; "
        "valid backends: legacy, asyncio, uvloop, twisted"
    )


def test_unknown_default_backend(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.migrate]\ndefault_backend = 3\n")
    with pytest.raises(
        FlagError, match=r"pyproject.toml: tool.migrate.default_backend: unknown backend 3;"
    ):
        resolve(tmp_path)


def test_uvloop_not_importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(
        FlagError,
        match=r"backend 'uvloop' was requested \(environment MIGRATE_BACKEND\) but uvloop is "
        r"not importable; install it with: pip install 'migrate-toolkit\[uvloop\]'",
    ):
        resolve(tmp_path, MIGRATE_BACKEND="uvloop")


def test_uvloop_importable_is_accepted(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    assert resolve(tmp_path, MIGRATE_BACKEND="uvloop").backend == "uvloop"


def test_malformed_file_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "migrate.toml", '[services.api]\nbackend = "asyncio"\nrollout = \n')
    with pytest.raises(FlagError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: malformed TOML: ")
    assert "line 3" in message


def test_not_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "migrate.toml"
    path.write_bytes(b'default_backend = "\xff"\n')
    with pytest.raises(FlagError, match=r"migrate.toml: not UTF-8 text"):
        load_config(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FlagError, match=r"cannot read config file .*missing.toml"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("rollout", ["101", "-5", '"30"', "12.5", "true"])
def test_bad_rollout_in_file(tmp_path: Path, rollout: str) -> None:
    write(tmp_path / "migrate.toml", f'[services.api]\nbackend = "asyncio"\nrollout = {rollout}\n')
    with pytest.raises(
        FlagError,
        match=r"\[services.api\] rollout: must be an integer percentage from 0 to 100, got",
    ):
        resolve(tmp_path, "api")


def test_unknown_service_key_suggests(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", '[services.api]\nbackend = "asyncio"\nrolout = 5\n')
    with pytest.raises(
        FlagError,
        match=r"\[services.api\]: unknown key 'rolout'; did you mean 'rollout'\? "
        r"known keys: backend, rollout, paths",
    ):
        resolve(tmp_path, "api")


def test_unknown_top_key_suggests(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.migrate]\ndefault = "asyncio"\n')
    with pytest.raises(
        FlagError,
        match=r"\[tool.migrate\]: unknown key 'default'; did you mean 'default_backend'\?",
    ):
        resolve(tmp_path)


def test_unknown_key_without_suggestion(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", "zzz = 1\n")
    with pytest.raises(
        FlagError, match=r"top level: unknown key 'zzz'; known keys: default_backend, services"
    ):
        resolve(tmp_path)


def test_missing_backend_key(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", '[services.api]\npaths = ["api"]\n')
    with pytest.raises(FlagError, match=r"\[services.api\]: missing key 'backend'; add e.g."):
        resolve(tmp_path, "web")


def test_service_not_a_table(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", '[services]\napi = "asyncio"\n')
    with pytest.raises(FlagError, match=r"\[services.api\]: a service must be a table"):
        resolve(tmp_path, "api")


def test_services_not_a_table(tmp_path: Path) -> None:
    write(tmp_path / "migrate.toml", 'services = ["api"]\n')
    with pytest.raises(FlagError, match=r"services must be a table of service tables"):
        resolve(tmp_path)


def test_tool_migrate_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[tool]\nmigrate = "yes"\n')
    with pytest.raises(FlagError, match=r"\[tool.migrate\] must be a table, got 'yes'"):
        load_config(path)


@pytest.mark.parametrize("paths", ['"api"', "[1, 2]", "{a = 1}"])
def test_bad_paths(tmp_path: Path, paths: str) -> None:
    write(tmp_path / "migrate.toml", f'[services.api]\nbackend = "asyncio"\npaths = {paths}\n')
    with pytest.raises(FlagError, match=r"\[services.api\] paths: must be a list of strings"):
        resolve(tmp_path, "api")


# --- loading -------------------------------------------------------------------------------


def test_load_config_pyproject(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    config = load_config(path)
    assert config.path == path
    assert config.default_backend == "asyncio"
    assert config.default_backend_set
    assert list(config.services) == ["pdf-export", "billing"]
    pdf = config.services["pdf-export"]
    assert (pdf.name, pdf.backend, pdf.rollout, pdf.paths) == (
        "pdf-export",
        "uvloop",
        None,
        ("services/pdf",),
    )
    assert config.services["billing"].rollout == 30
    assert config.service_paths("pdf-export") == (tmp_path / "services/pdf",)


def test_load_config_empty_pyproject(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "pyproject.toml", "[project]\nname='x'\n"))
    assert (config.default_backend, config.default_backend_set, config.services) == (
        "legacy",
        False,
        {},
    )


def test_flag_error_is_value_error() -> None:
    assert issubclass(flags.FlagError, ValueError)


def test_packaging_pyproject_mentioning_migrate_is_not_read(tmp_path: Path) -> None:
    outer = write(tmp_path / "migrate.toml", MIGRATE_TOML)
    # Malformed, but it only depends on the toolkit: it must not break the search.
    write(tmp_path / "svc" / "pyproject.toml", '[project]\ndependencies = ["migrate-toolkit"\n')
    assert find_config(tmp_path / "svc", {}) == outer


@pytest.mark.parametrize(
    "text",
    [
        '[tool]\nmigrate.default_backend = "asyncio"\n',
        '[tool]\nmigrate = { default_backend = "asyncio" }\n',
        'tool.migrate.default_backend = "asyncio"\n',
        '[tool."migrate"]\ndefault_backend = "asyncio"\n',
    ],
)
def test_other_spellings_of_tool_migrate_are_found(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "pyproject.toml", text)
    assert find_config(tmp_path, {}) == path
    assert resolve(tmp_path).backend == "asyncio"


def test_malformed_pyproject_with_migrate_table_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.migrate]\ndefault_backend = \n")
    with pytest.raises(FlagError, match=r"pyproject.toml: malformed TOML: .*line 2"):
        find_config(tmp_path, {})
