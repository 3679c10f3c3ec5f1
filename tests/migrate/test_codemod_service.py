"""``migrate codemod legacy-to-shim``: each file's run() call names its service, via the real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Run, run_subprocess

CLI = Callable[..., Run]

CONFIG = """\
[project]
name = "mono"

[tool.migrate.services.api]
backend = "legacy"
paths = ["services/api"]

[tool.migrate.services.api-jobs]
backend = "asyncio"
paths = ["services/api/jobs"]

[tool.migrate.services.billing]
backend = "legacy"
paths = ["services/billing", "libs/billing_extra.py"]
"""

ENTRY = "from legacy import runtime\n\n\nasync def main():\n    pass\n\n\nruntime.run(main)\n"


def converted(service: str | None) -> str:
    arg = f', service="{service}"' if service else ""
    return f"import shims\n\n\nasync def main():\n    pass\n\n\nshims.run(main{arg})\n"


# file (relative to the tree) -> the service its run() call must name
LAYOUT = {
    "services/api/main.py": "api",
    "services/api/deep/more/entry.py": "api",
    "services/api/jobs/cron.py": "api-jobs",  # the most specific paths entry wins
    "services/billing/main.py": "billing",
    "libs/billing_extra.py": "billing",  # a paths entry naming a file
    "tools/outside.py": None,  # in no service
    "services/apiary/main.py": None,  # "services/api" is a directory, not a prefix
}


@pytest.fixture(autouse=True)
def _no_config_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRATE_CONFIG", raising=False)


def make_tree(root: Path, *, config: str | None = CONFIG) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "pyproject.toml").write_text(config, encoding="utf-8")
    for rel in LAYOUT:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ENTRY, encoding="utf-8")
    return root


def contents(root: Path) -> dict[str, str]:
    return {rel: (root / rel).read_text(encoding="utf-8") for rel in LAYOUT}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_each_file_gets_the_service_whose_paths_contain_it(
    tmp_path: Path, cli: CLI, jobs: str
) -> None:
    root = make_tree(tmp_path)
    result = cli("codemod", "legacy-to-shim", "--jobs", jobs, root)
    assert result.code == 0, result.err
    assert contents(root) == {rel: converted(service) for rel, service in LAYOUT.items()}


def test_real_process_from_inside_the_tree(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    result = run_subprocess("codemod", "legacy-to-shim", "services/api", "tools", cwd=root)
    assert result.code == 0, result.err
    got = contents(root)
    assert got["services/api/main.py"] == converted("api")
    assert got["services/api/jobs/cron.py"] == converted("api-jobs")
    assert got["tools/outside.py"] == converted(None)
    assert got["services/billing/main.py"] == ENTRY  # not named on the command line


def test_a_file_named_on_the_command_line_gets_its_service(tmp_path: Path, cli: CLI) -> None:
    root = make_tree(tmp_path)
    path = root / "services/billing/main.py"
    assert cli("codemod", "legacy-to-shim", path).code == 0
    assert path.read_text(encoding="utf-8") == converted("billing")


def test_service_option_forces_one_name_for_every_file(tmp_path: Path, cli: CLI) -> None:
    root = make_tree(tmp_path)
    result = cli("codemod", "legacy-to-shim", "--jobs", "2", "--service", "forced", root)
    assert result.code == 0, result.err
    assert contents(root) == {rel: converted("forced") for rel in LAYOUT}


def test_without_a_config_file_no_file_gets_a_service(tmp_path: Path, cli: CLI) -> None:
    root = make_tree(tmp_path, config=None)
    assert cli("codemod", "legacy-to-shim", root).code == 0
    assert contents(root) == {rel: converted(None) for rel in LAYOUT}


def test_json_report_is_the_same_with_and_without_services(tmp_path: Path, cli: CLI) -> None:
    with_config = make_tree(tmp_path / "a")
    without = make_tree(tmp_path / "b", config=None)

    def report(root: Path) -> dict[str, object]:
        result = cli("codemod", "legacy-to-shim", "--json", "--check", root)
        assert result.code == 1, result.err  # changes pending
        data = json.loads(result.out)
        del data["summary"]["seconds"]
        for entry in data["files"]:
            entry["path"] = str(Path(entry["path"]).relative_to(root))
        return data

    got = report(with_config)
    assert got == report(without)
    assert got["summary"]["changed"] == len(LAYOUT)
    assert '"service"' not in json.dumps(got)  # no new key
    assert contents(with_config) == {rel: ENTRY for rel in LAYOUT}  # --check wrote nothing


def test_diff_shows_the_service(tmp_path: Path, cli: CLI) -> None:
    root = make_tree(tmp_path)
    result = cli("codemod", "legacy-to-shim", "--diff", root / "services/api/jobs")
    assert result.code == 0, result.err
    assert '+shims.run(main, service="api-jobs")\n' in result.out


def test_service_option_only_applies_to_legacy_to_shim(tmp_path: Path, cli: CLI) -> None:
    root = make_tree(tmp_path)
    result = cli("codemod", "shim-to-asyncio", "--service", "api", root)
    assert result.code == 2
    assert "--service only applies to legacy-to-shim, not 'shim-to-asyncio'" in result.err
    assert contents(root) == {rel: ENTRY for rel in LAYOUT}


def test_bad_service_option_is_a_usage_error(tmp_path: Path, cli: CLI) -> None:
    root = make_tree(tmp_path)
    result = cli("codemod", "legacy-to-shim", "--service", " api", root)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "service must be a service name" in result.err


def test_malformed_config_is_a_usage_error_naming_the_file(tmp_path: Path, cli: CLI) -> None:
    root = make_tree(tmp_path, config=CONFIG.replace('backend = "asyncio"', 'backend = "tornado"'))
    result = cli("codemod", "legacy-to-shim", root)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "pyproject.toml" in result.err and "'tornado'" in result.err
    assert "--service NAME" in result.err
    assert contents(root) == {rel: ENTRY for rel in LAYOUT}
    # --service does not need the config file at all
    forced = cli("codemod", "legacy-to-shim", "--service", "x", root)
    assert forced.code == 0, forced.err
    assert (root / "tools/outside.py").read_text(encoding="utf-8") == converted("x")
