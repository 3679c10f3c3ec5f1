"""Parsing only the statements a codemod needs gives what parsing the whole file gives.

The differential tests run the rename codemods both ways (the worker's
partial path, and libcst's whole-file parse as ``python -m libcst.tool``
runs it) over generated files built from tricky statements and separators,
and over the codemod tests' own inputs, and require the same text and the
same warnings. The unit tests pin the pieces: statement boundaries, what is
kept together, placeholders, the tail.
"""

from __future__ import annotations

import ast
import random
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import libcst
import pytest
from libcst.codemod import Codemod, CodemodContext

from codemods import LegacyToShimCommand, ShimToAsyncioCommand
from codemods._rename.relevant import Chunk
from migrate._runner import partial as _partial
from migrate._runner.partial import reduce_source
from migrate._runner.worker import Job, _apply, _transform, init_worker, process_file

ROOT = Path(__file__).resolve().parents[2]
COMMANDS: list[tuple[type[Codemod], dict[str, Any]]] = [
    (LegacyToShimCommand, {}),
    (LegacyToShimCommand, {"service": "svc"}),
    (ShimToAsyncioCommand, {}),
]

STATEMENTS = [
    "from legacy import runtime\n",
    "from legacy.runtime import connect as c, sleep\n",
    "import legacy.runtime\n",
    "import legacy.runtime as rt\n",
    "from legacy.runtime import (\n    spawn,\n    Lock,  # trailing\n)\n",
    "from legacy.runtime import *\n",
    "import shims\n",
    "from shims import sleep\n",
    "import json, logging\n",
    "shims = 3\n",
    "sleep = None\n",
    "__all__ = ['f']\n",
    "def f():\n    return runtime.spawn(g())\n",
    "async def g():\n    await rt.sleep(1)\n    await c('h', 1)\n",
    "def shadow(runtime):\n    return runtime.sleep(1)\n",
    "def setg():\n    global runtime\n    runtime = None\n",
    "class K:\n    runtime = 1\n\n    def m(self):\n        return runtime.Lock()\n",
    "@runtime.coroutine\ndef gen():\n    yield runtime.sleep(0)\n",
    "def h(x: 'runtime.Task') -> None:\n    pass\n",
    "x: 'rt.Lock' = None\n",
    "a = 1; b = runtime.Lock()\n",
    "if True: runtime.run(main)\n",
    "try:\n    from legacy import runtime\nexcept ImportError:\n    runtime = None\n",
    "def nested():\n    from legacy.runtime import sleep as zz\n    return zz(1)\n",
    "def filler(a, b):\n    total = a + b\n    for i in range(3):\n        total += i\n    return total\n",
    "class Plain:\n    def __init__(self):\n        self.v = [1, 2]\n",
    "try:\n    pass\nexcept TimeoutError:\n    pass\n",
    "def gather():\n    pass\n",
    "Queue = list\n",
    "print(runtime)\n",
    "getattr(runtime, 'sleep')\n",
    "runtime.sleep = fake\n",
    "f2 = lambda runtime: runtime\n",
    "xs = [runtime.Lock() for _ in range(2)]\n",
    "if (runtime := 3):\n    pass\n",
    "match cmd:\n    case 'a':\n        runtime.run(main)\n    case _:\n        pass\n",
    "main = runtime.run\n",
    "q = runtime.Channel(capacity=3)\n",
    "t = runtime.with_timeout(1.0, aw)\n",
    "runtime.spawn(job())\n",
    "def local_c():\n    c = 1\n    return c\n",
    "for rt in range(3):\n    pass\n",
    "del sleep\n",
    "async def w2():\n    async with runtime.Lock():\n        pass\n",
    "TimeoutError = ValueError\n",
    "s = '''\nruntime in a string\n'''\n",
    "y = 1 \\\n    + 2\n",
    "@decor\n# comment between\n@other(1)\nclass D:\n    pass\n",
    "if x:\n    pass\nelse:\n    runtime.run(main)\n",
    "await shims.sleep(1)\n",
    "from shims import spawn as sp\nsp(job())\n",
]
HEADS = ["from __future__ import annotations\n", '"""Doc mentioning runtime."""\n', '"""Doc."""\n']
SEPARATORS = [
    "",
    "\n",
    "\n\n",
    "# column-0 comment\n",
    "    # indented comment\n",
    "\n    # indented\n\n",
    "    \n",
    "\t# tab comment\n",
    "\n# a comment that says runtime\n",
]


def generated_files(count: int, seed: int) -> list[str]:
    """Return ``count`` files of random statements and separators, some CRLF, some unterminated."""
    rnd = random.Random(seed)
    files = []
    for _ in range(count):
        parts = [rnd.choice(HEADS)] if rnd.random() < 0.5 else []
        for _ in range(rnd.randint(2, 9)):
            parts += (rnd.choice(SEPARATORS), rnd.choice(STATEMENTS))
        parts.append(rnd.choice(SEPARATORS))
        text = "".join(parts)
        if rnd.random() < 0.3:
            text = text.replace("\n", "\r\n")
        if rnd.random() < 0.2:
            text = text.rstrip("\r\n")
        files.append(text)
    return files


def codemod_test_inputs() -> list[str]:
    """Return every multi-line string in the codemod tests that mentions legacy or shims."""
    found = set()
    for path in sorted((ROOT / "tests" / "codemods").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = getattr(node, "value", None)
            if not isinstance(node, ast.Constant) or not isinstance(value, str):
                continue
            if "\n" in value and ("legacy" in value or "shims" in value):
                found.add(textwrap.dedent(value))
    return sorted(found)


def whole_file(cls: type[Codemod], options: dict[str, Any], text: str) -> object:
    """Run ``cls`` on the whole file, as libcst's own tool does: (text, warnings) or the error."""
    context = CodemodContext(filename="m.py", full_module_name=None)
    try:
        return _apply(cls(context, **options), text), list(context.warnings)
    except Exception as exc:
        return type(exc).__name__


def partial(cls: type[Codemod], options: dict[str, Any], text: str) -> object:
    try:
        return _transform("m.py", cls, options, text)
    except Exception as exc:
        return type(exc).__name__


def used_partial(cls: type[Codemod], options: dict[str, Any], text: str) -> bool:
    command = cls(CodemodContext(), **options)
    return reduce_source(text, command.select_statements) is not None  # type: ignore[attr-defined]


def round_trips(text: str) -> bool:
    """libcst drops a blank line before an indented comment that ends a file (see _partial)."""
    try:
        return libcst.parse_module(text).code == text
    except libcst.ParserSyntaxError:
        return True


def check_same(texts: Sequence[str]) -> int:
    """Assert both ways agree on every text; return how many runs took the partial path."""
    partial_runs = 0
    for text in texts:
        for cls, options in COMMANDS:
            expected = whole_file(cls, options, text)
            if round_trips(text):
                assert partial(cls, options, text) == expected, (cls.__name__, options, text)
            partial_runs += used_partial(cls, options, text)
    return partial_runs


def test_generated_files_give_what_the_whole_file_parse_gives() -> None:
    texts = generated_files(300, seed=20261126)
    assert check_same(texts) > 500  # most runs really took the partial path


def test_the_codemod_tests_inputs_give_the_same_result() -> None:
    texts = codemod_test_inputs()
    assert len(texts) > 100
    variants = [v for t in texts for v in (t, t.replace("\n", "\r\n"), t.rstrip("\n"))]
    assert check_same(variants) > 200


def test_the_sample_fleet_gives_the_same_result() -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").rglob("*.py"))]
    assert len(texts) > 10
    assert check_same(texts) > 10


def test_a_final_indented_comment_keeps_its_blank_line(tmp_path: Path) -> None:
    text = "from legacy import runtime\n\nruntime.spawn(job())\nx = 1\n\n    # note\n"
    assert not round_trips(text)  # libcst alone drops the blank line before "# note"
    path = tmp_path / "m.py"
    path.write_text(text, encoding="utf-8")
    init_worker(Job("legacy-to-shim", (), "write"))
    assert process_file(str(path)).status == "changed"
    assert path.read_text(encoding="utf-8") == (
        "import shims\n\nshims.spawn(job())\nx = 1\n\n    # note\n"
    )


def test_warnings_keep_the_line_numbers_of_the_file() -> None:
    text = (
        "from legacy import runtime\n\n\ndef plain():\n    return 1\n\n\n"
        "def later():\n    return runtime.current_task()\n"
    )
    assert used_partial(LegacyToShimCommand, {}, text)
    new_text, notes = _transform("m.py", LegacyToShimCommand, {}, text)
    assert new_text == text
    assert len(notes) == 1 and notes[0].startswith("line 9: ")


def test_a_placeholder_missing_from_the_result_falls_back_to_the_whole_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "from legacy import runtime\n\nx = 1\n\nruntime.sleep(1)\n"
    expected = whole_file(LegacyToShimCommand, {}, text)
    seen = []

    def lost(self: _partial.Reduced, code: str) -> None:
        seen.append(code)

    monkeypatch.setattr(_partial.Reduced, "restore", lost)
    assert _transform("m.py", LegacyToShimCommand, {}, text) == expected
    assert seen and "migrate-placeholder-" in seen[0]


# -- the pieces -------------------------------------------------------------------


def select_where(word: str) -> _partial.Selector:
    def select(chunks: Sequence[Chunk]) -> list[bool]:
        return [word in text for text, _ in chunks]

    return select


def test_placeholders_keep_lines_endings_and_shape() -> None:
    text = "import a\r\n\r\nclass K:\r\n    x = 1\r\n\r\n\r\ny = (1,\r\n     2)\r\nkeep = 1\r\n"
    reduced = reduce_source(text, select_where("keep"))
    assert reduced is not None
    assert reduced.text.splitlines(keepends=True)[-1] == "keep = 1\r\n"
    assert reduced.text.count("\r\n") == text.count("\r\n")
    assert "\n" not in reduced.text.replace("\r\n", "")
    module = libcst.parse_module(reduced.text)
    kinds = [type(s).__name__ for s in module.body]
    assert kinds == ["SimpleStatementLine", "If", "SimpleStatementLine", "SimpleStatementLine"]
    assert reduced.restore(reduced.text) == text


def test_statements_on_one_line_and_decorators_stay_whole() -> None:
    text = "@deco\n# between\n@other\ndef f():\n    pass\na = 1; keep = 2\n"
    reduced = reduce_source(text, select_where("keep"))
    assert reduced is not None
    assert reduced.text.endswith("a = 1; keep = 2\n")
    assert [type(s).__name__ for s in libcst.parse_module(reduced.text).body] == [
        "If",
        "SimpleStatementLine",
    ]


@pytest.mark.parametrize("gap", ["    # indented\n", "\t\n", "\n    \n", "\f# form feed\n"])
def test_indented_lines_after_a_compound_statement_tie_it_to_the_next(gap: str) -> None:
    text = f"def f():\n    pass\n{gap}keep = 1\n"
    chunks: list[Chunk] = []

    def select(given: Sequence[Chunk]) -> list[bool]:
        chunks.extend(given)
        return [False] * len(given)

    assert reduce_source(text, select) is not None
    assert [text for text, _ in chunks] == [text]


def test_column_zero_comments_and_blank_lines_do_not_tie() -> None:
    chunks: list[Chunk] = []

    def select(given: Sequence[Chunk]) -> list[bool]:
        chunks.extend(given)
        return [True, False]

    text = "def f():\n    pass\n\n# about keep\nkeep = 1\n"
    assert reduce_source(text, select) is not None
    assert [text for text, _ in chunks] == ["def f():\n    pass\n", "\n# about keep\nkeep = 1\n"]


def test_match_is_a_compound_statement() -> None:
    text = "match x:\n    case 1:\n        pass\n    # indented\nkeep = 1\n"
    chunks: list[Chunk] = []

    def select(given: Sequence[Chunk]) -> list[bool]:
        chunks.extend(given)
        return [False] * len(given)

    reduced = reduce_source(text, select)
    assert reduced is not None and len(chunks) == 1
    assert reduced.text.startswith("if (")


def test_the_tail_is_left_out_of_the_parse() -> None:
    text = "keep = 1\n\n    # trailing\n# more"
    reduced = reduce_source(text, select_where("keep"))
    assert reduced is not None
    assert reduced.text == "keep = 1\n" and reduced.tail == "\n    # trailing\n# more"
    assert reduced.restore("kept = 1\n") == "kept = 1\n\n    # trailing\n# more"


@pytest.mark.parametrize(
    "text",
    [
        "keep = 1\n",  # everything is needed, nothing after it
        "def f(:\n    keep\n",  # CPython cannot parse it
        "keep = 1\rx = 2\r",  # lone CR line endings
        "# only a comment\n",  # no statement
    ],
)
def test_files_that_gain_nothing_or_do_not_qualify(text: str) -> None:
    assert reduce_source(text, select_where("keep")) is None


def test_a_selector_that_declines_means_the_whole_file() -> None:
    assert reduce_source("x = 1\ny = 2\n", lambda chunks: None) is None


def test_the_marker_avoids_text_already_in_the_file() -> None:
    text = "a = 'migrate-placeholder-0'\nkeep = 1\n"
    reduced = reduce_source(text, select_where("keep"))
    assert reduced is not None
    placeholder, original = reduced.placeholders[0]
    assert original == "a = 'migrate-placeholder-0'\n"
    assert "migrate-placeholder--0." in placeholder
    assert reduced.restore(reduced.text) == text


def test_placeholders_are_found_in_order_and_by_their_whole_label() -> None:
    text = "".join(f"x{i} = {i}\n" for i in range(12)) + "keep = 1\nx12 = 12"
    reduced = reduce_source(text, select_where("keep"))
    assert reduced is not None and len(reduced.placeholders) == 13
    assert reduced.restore(reduced.text) == text
    assert reduced.restore(reduced.text.replace("keep = 1", "kept = 2")) == text.replace(
        "keep = 1", "kept = 2"
    )


def test_restore_reports_a_missing_placeholder() -> None:
    reduced = reduce_source("a = 1\nkeep = 1\n", select_where("keep"))
    assert reduced is not None
    assert reduced.restore("keep = 1\n") is None
