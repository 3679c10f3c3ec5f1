"""LegacyToShimCommand vs libcst's RenameCommand on the same generated files, same run.

The corpus mixes every import form of ``legacy.runtime``. Per file, each case
parses the source, runs the command and generates the code (what any driver
does). ``RenameCommand`` does a single rename (``legacy.runtime.sleep`` ->
``shims.sleep``), its cheapest possible use; LegacyToShimCommand does the
whole conversion (every rename, reshape and import edit) and still compiles
its output. A bare ``libcst.parse_module``, and a parse plus ``.code`` (what any
codemod driver pays at least), are shown as floors.

Run: ``python benchmarks/bench_codemods.py [--files N] [--repeat N] [--quick]``.
Target: LegacyToShimCommand >= 3x RenameCommand's throughput.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.commands.rename import RenameCommand

sys.path.insert(0, str(Path(__file__).parent))
from _harness import interleaved_medians, print_ratios

from codemods import LegacyToShimCommand

HEADS = [
    "from legacy import runtime\n",
    "import legacy.runtime as runtime\n",
    "from legacy import runtime as runtime\n",
    "import legacy.runtime\nruntime = legacy.runtime\n",
]

BLOCK = '''

async def handler_{i}_{j}(conn, limit: int = {j}) -> int:
    """Serve request kind {j}."""
    data = await conn.read_exactly(limit, timeout=5.0)
    total = sum(k * {j} for k in range(limit)) + len(data)
    await runtime.sleep(0.01)
    task = runtime.spawn(worker_{i}(conn, total))
    try:
        res = await runtime.with_timeout(2.0, task)
    except runtime.Timeout:
        log.warning("slow %s", {j})
        return -1
    both = await runtime.wait_all([worker_{i}(conn, 1), worker_{i}(conn, 2)])
    queue = runtime.Channel(capacity=4)
    await queue.put(res)
    log.info("done %s %s", res, {{"both": both, "q": queue}})
    return total
'''


def make_file(i: int, blocks: int) -> str:
    """Return one service module of roughly ``20 * blocks`` lines."""
    head = HEADS[i % (len(HEADS) - 1)]  # the last form assigns, which is refused; skip it
    parts = [
        f'"""Service {i}."""\n\nimport logging\n',
        head,
        "from legacy.runtime import sleep as nap\n\nlog = logging.getLogger(__name__)\n",
        f"\n\nasync def worker_{i}(conn, n):\n    await nap(0)\n    return n\n",
    ]
    parts.extend(BLOCK.format(i=i, j=j) for j in range(blocks))
    return "".join(parts)


def _ours(sources: list[str]) -> Callable[[], object]:
    def run() -> object:
        for src in sources:
            ctx = CodemodContext(filename="svc.py")
            _ = LegacyToShimCommand(ctx).transform_module(cst.parse_module(src)).code
        return None

    return run


def _rename(sources: list[str]) -> Callable[[], object]:
    def run() -> object:
        for src in sources:
            ctx = CodemodContext(filename="svc.py")
            cmd = RenameCommand(ctx, "legacy.runtime.sleep", "shims.sleep")
            _ = cmd.transform_module(cst.parse_module(src)).code
        return None

    return run


def _parse(sources: list[str]) -> Callable[[], object]:
    def run() -> object:
        for src in sources:
            cst.parse_module(src)
        return None

    return run


def _parse_code(sources: list[str]) -> Callable[[], object]:
    def run() -> object:
        for src in sources:
            _ = cst.parse_module(src).code
        return None

    return run


def main() -> int:
    """Generate the corpus, check the conversion, time the three cases, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=8, help="handlers per file (~20 lines each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 20 s)")
    args = parser.parse_args()
    if args.quick:
        args.files, args.blocks, args.repeat = 3, 4, 3
    sources = [make_file(i, args.blocks) for i in range(args.files)]
    lines = sum(s.count("\n") for s in sources)
    for src in sources:  # the benchmark only means something if the conversion is real
        ctx = CodemodContext()
        out = LegacyToShimCommand(ctx).transform_module(cst.parse_module(src)).code
        assert "runtime." not in out and "shims.gather(" in out and not ctx.warnings, ctx.warnings
    cases = {
        "parse only": _parse(sources),
        "parse + .code": _parse_code(sources),
        "LegacyToShimCommand": _ours(sources),
        "RenameCommand (1 rename)": _rename(sources),
    }
    medians = interleaved_medians(cases, repeat=args.repeat, warmup=1)
    print(f"corpus: {args.files} files, {lines} lines")
    print_ratios(
        "legacy-to-shim throughput",
        medians,
        baseline="LegacyToShimCommand",
        unit_count=lines,
        unit="line",
    )
    print()
    for name, seconds in medians.items():
        print(f"  {name:<32} {lines / seconds / 1000:8.2f} kLOC/s")
    ratio = medians["RenameCommand (1 rename)"] / medians["LegacyToShimCommand"]
    floor = medians["LegacyToShimCommand"] / medians["parse only"]
    emit = medians["LegacyToShimCommand"] / medians["parse + .code"]
    print(
        f"\nLegacyToShimCommand is {ratio:.1f}x RenameCommand's throughput (target >= 3x); "
        f"it costs {floor:.2f}x a bare parse, {emit:.2f}x a parse plus code generation."
    )
    return 0 if ratio >= 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
