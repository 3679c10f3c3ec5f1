"""The worker's speed-ups leave libcst and the process as they found them."""

from __future__ import annotations

import gc
from pathlib import Path

import libcst
import pytest
from libcst import CSTValidationError

from migrate._runner.worker import Job, _trusted_parse, init_worker, process_file

SOURCE = (
    '"""Doc."""\nfrom legacy import runtime  # keep\n\n\n@decorator(1)\n'
    "async def f(a, *b, c=1, **d) -> int:\n    x = [i async for i in a if i]\n"
    "    return await runtime.sleep(x or {1: (2, 3)})\n"
)


def test_trusted_parse_builds_the_same_tree() -> None:
    assert _trusted_parse(SOURCE).deep_equals(libcst.parse_module(SOURCE))
    assert _trusted_parse(SOURCE).code == SOURCE


def test_validation_is_back_after_a_parse_even_a_failing_one() -> None:
    _trusted_parse("x = 1\n")
    with pytest.raises(libcst.ParserSyntaxError):
        _trusted_parse("def (:\n")
    with pytest.raises(CSTValidationError):
        libcst.Name("not a name")  # a node built by hand is validated again


@pytest.mark.parametrize("enabled", [True, False])
def test_process_file_restores_the_collector_state(tmp_path: Path, enabled: bool) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE, encoding="utf-8")
    init_worker(Job("legacy-to-shim", (), "check"))
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        result = process_file(str(path), (("service", "svc"),))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert result.status == "changed", result.reason
    assert path.read_text(encoding="utf-8") == SOURCE  # check mode writes nothing


def test_per_file_options_do_not_leak_between_files(tmp_path: Path) -> None:
    entry = "from legacy import runtime\n\nruntime.run(main)\n"
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text(entry, encoding="utf-8")
    second.write_text(entry, encoding="utf-8")
    init_worker(Job("legacy-to-shim", (), "write"))
    assert process_file(str(first), (("service", "one"),)).status == "changed"
    assert process_file(str(second)).status == "changed"
    assert first.read_text(encoding="utf-8").endswith('shims.run(main, service="one")\n')
    assert second.read_text(encoding="utf-8").endswith("shims.run(main)\n")
