"""Load and validate the TOML specs that drive the rename codemods.

A spec is data: which module is migrated away from (``source``), which module
replaces it (``target``), and per source attribute what it becomes. Every
problem in a spec is reported as one :class:`SpecError` naming the file, the
key and what is wrong, before any file is touched.
"""

from __future__ import annotations

import keyword
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_CALL_ITEM = re.compile(r"^(?P<func>[A-Za-z_]\w*)\(\*(?P<rest>[A-Za-z_]\w*)\)$")

BUILTINS = "builtins"


class SpecError(ValueError):
    """A codemod spec file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Target:
    """What a source attribute becomes: ``module`` plus an expression in it.

    ``expr`` is a dotted name (``gather``) or a dotted name followed by a call
    and attributes (``get_running_loop().call_later``). ``module`` is
    ``"builtins"`` for a builtin, which needs no import.
    """

    module: str
    expr: str

    @property
    def simple(self) -> bool:
        """Return True when ``expr`` is one plain name that ``from module import`` can bind."""
        return _IDENT.match(self.expr) is not None


@dataclass(frozen=True)
class Rule:
    """How one attribute of the source module is converted.

    ``params``/``args`` describe an argument reshape (None: arguments stay as
    they are); ``keywords`` renames keyword arguments (a None value drops the
    keyword); ``require`` restricts a keyword to literal string values.
    ``service`` names the target's keyword for the service name: when the
    codemod is given one, a converted call gets ``service="<name>"`` unless it
    already passes that keyword or one of ``service_unless``.
    """

    name: str
    target: Target
    params: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    keywords: dict[str, str | None] = field(default_factory=dict)
    require: dict[str, tuple[str, ...]] = field(default_factory=dict)
    discarded: str | None = None  # refuse a call whose result is thrown away, for this reason
    reject: tuple[str, ...] = ()  # keywords the target has no equivalent for: refuse the call
    positional: int | None = None  # most positional arguments the target takes
    service: str | None = None  # the target keyword that takes the service name
    service_unless: tuple[str, ...] = ()  # target keywords that make it unnecessary
    # Guards checked by ``guards``: where the call's value may go ("awaited":
    # only as the operand of ``await``; "unused": discarded or awaited;
    # "gathered": an element of a converted gather's list) and why;
    # names whose presence in the file refuses the call (".attr": that attribute
    # read anywhere; "name": the source's ``name``); parameters that must be
    # given as a reference to a source attribute (``clock = "reactor"``);
    # source names each element of the starred argument's list must call
    # (``elements = ["defer.ensureDeferred"]``: what the target can await).
    when: str | None = None
    why: str | None = None
    conflicts: tuple[str, ...] = ()
    source_args: dict[str, str] = field(default_factory=dict)
    elements: tuple[str, ...] = ()

    @property
    def reshapes(self) -> bool:
        """Return True when the call's positional arguments change shape."""
        return self.params is not None

    @property
    def call_only(self) -> bool:
        """Return True when only a call site (not a bare reference) can be converted."""
        return (
            self.reshapes
            or bool(self.require)
            or not self.target.simple
            or bool(self.discarded)
            or self.when is not None
            or bool(self.conflicts)
            or bool(self.elements)
        )


@dataclass(frozen=True)
class Spec:
    """A validated codemod spec."""

    path: str
    source: str
    target: str
    description: str
    rules: dict[str, Rule]
    keep: frozenset[str]
    refuse: dict[str, str]

    def key_for(self, name: str) -> str | None:
        """Return the longest rule, keep or refuse key that is ``name`` or a dotted prefix of it.

        ``name`` is a path below the source module (``defer.gatherResults.x``);
        keys may be dotted (``defer.gatherResults``) when the source is a
        package whose modules are migrated together.
        """
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            key = ".".join(parts[:k])
            if key in self.rules or key in self.keep or key in self.refuse:
                return key
        return None


def _fail(path: str, key: str, problem: str) -> SpecError:
    return SpecError(f"{path}: [{key}] {problem}")


def _str(path: str, key: str, value: Any, *, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, key, f"must be a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise _fail(path, key, f"is not a valid Python name: {value!r}")
    return value


def _target(path: str, key: str, value: Any, default_module: str) -> Target:
    text = _str(path, key, value)
    module, sep, expr = text.rpartition(":")
    if not sep:
        module = default_module
    if not _DOTTED.match(module):
        raise _fail(path, key, f"target module {module!r} is not a dotted module name")
    head = expr.split("(", 1)[0]
    if not _DOTTED.match(head) or (
        expr != head and not re.match(r"^\w+(\.\w+)*\(\)(\.\w+)+$", expr)
    ):
        raise _fail(
            path, key, f"target {text!r} must be 'name', 'module:name' or 'module:f().attr'"
        )
    if any(keyword.iskeyword(part) for part in re.findall(r"\w+", expr)):
        raise _fail(path, key, f"target {text!r} uses a Python keyword")
    if module == BUILTINS and not _IDENT.match(expr):
        raise _fail(path, key, f"a builtin target must be one name, got {expr!r}")
    return Target(module, expr)


def _names(path: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, key, f"must be a list of strings, got {value!r}")
    return tuple(value)


def _call_rule(path: str, name: str, table: Any, default_module: str) -> Rule:
    key = f"calls.{name}"
    if not isinstance(table, dict):
        raise _fail(path, key, f"must be a table, got {table!r}")
    allowed = {
        "target",
        "params",
        "args",
        "keywords",
        "require",
        "discarded",
        "reject",
        "positional",
        "service",
        "service_unless",
        "when",
        "why",
        "conflicts",
        "source_args",
        "elements",
    }
    unknown = set(table) - allowed
    if unknown:
        raise _fail(path, key, f"unknown key(s) {sorted(unknown)!r}")
    if "target" not in table:
        raise _fail(path, key, "missing required key 'target'")
    target = _target(path, f"{key}.target", table["target"], default_module)
    params = args = None
    if ("params" in table) != ("args" in table):
        raise _fail(path, key, "'params' and 'args' must be given together")
    if "params" in table:
        params = _names(path, f"{key}.params", table["params"])
        args = _names(path, f"{key}.args", table["args"])
        _check_template(path, key, params, args)
    keywords: dict[str, str | None] = {}
    raw_kw = table.get("keywords", {})
    if not isinstance(raw_kw, dict):
        raise _fail(path, f"{key}.keywords", f"must be a table, got {raw_kw!r}")
    for old, new in raw_kw.items():
        if new == "":
            keywords[old] = None
        else:
            keywords[old] = _str(path, f"{key}.keywords.{old}", new, pattern=_IDENT)
    require: dict[str, tuple[str, ...]] = {}
    raw_req = table.get("require", {})
    if not isinstance(raw_req, dict):
        raise _fail(path, f"{key}.require", f"must be a table, got {raw_req!r}")
    for kw, allowed in raw_req.items():
        require[kw] = _names(path, f"{key}.require.{kw}", allowed)
    discarded = None
    if "discarded" in table:
        discarded = _str(path, f"{key}.discarded", table["discarded"])
    reject = _names(path, f"{key}.reject", table.get("reject", []))
    positional = table.get("positional")
    if positional is not None and (not isinstance(positional, int) or positional < 0):
        raise _fail(path, f"{key}.positional", f"must be a whole number >= 0, got {positional!r}")
    service = None
    if "service" in table:
        service = _str(path, f"{key}.service", table["service"], pattern=_IDENT)
    unless = _names(path, f"{key}.service_unless", table.get("service_unless", []))
    if unless and service is None:
        raise _fail(path, f"{key}.service_unless", "needs 'service' (the keyword it guards)")
    for kw in unless:
        _str(path, f"{key}.service_unless", kw, pattern=_IDENT)
    when, why = _when(path, key, table)
    conflicts = _names(path, f"{key}.conflicts", table.get("conflicts", []))
    for item in conflicts:
        if not _DOTTED.match(item.removeprefix(".")):
            raise _fail(path, f"{key}.conflicts", f"{item!r} is not '.attribute' or a dotted name")
    source_args: dict[str, str] = {}
    raw_sa = table.get("source_args", {})
    if not isinstance(raw_sa, dict):
        raise _fail(path, f"{key}.source_args", f"must be a table, got {raw_sa!r}")
    for param, value in raw_sa.items():
        if params is None or param not in params:
            raise _fail(path, f"{key}.source_args", f"{param!r} is not in params")
        source_args[param] = _str(path, f"{key}.source_args.{param}", value, pattern=_DOTTED)
    elements = _names(path, f"{key}.elements", table.get("elements", []))
    for item in elements:
        _str(path, f"{key}.elements", item, pattern=_DOTTED)
    if elements and not any(a.startswith("*") for a in args or ()):
        raise _fail(path, f"{key}.elements", "needs 'args' with a '*list' (the gathered list)")
    return Rule(
        name,
        target,
        params,
        args,
        keywords,
        require,
        discarded,
        reject,
        positional,
        service,
        unless,
        when,
        why,
        conflicts,
        source_args,
        elements,
    )


_WHEN = ("awaited", "unused", "gathered")


def _when(path: str, key: str, table: dict[str, Any]) -> tuple[str | None, str | None]:
    when, why = table.get("when"), table.get("why")
    if when is None:
        if why is not None:
            raise _fail(path, f"{key}.why", "needs 'when' (the use it explains)")
        return None, None
    if when not in _WHEN:
        raise _fail(path, f"{key}.when", f"must be one of {list(_WHEN)!r}, got {when!r}")
    if why is None:
        raise _fail(path, key, "'when' needs 'why': the reason other uses are refused")
    return when, _str(path, f"{key}.why", why)


def _check_template(path: str, key: str, params: tuple[str, ...], args: tuple[str, ...]) -> None:
    for i, p in enumerate(params):
        bare = p.removeprefix("*")
        if not _IDENT.match(bare) or (p.startswith("*") and i != len(params) - 1):
            raise _fail(path, f"{key}.params", f"{p!r}: use names, and '*rest' only last")
    known = {p.removeprefix("*") for p in params}
    for item in args:
        m = _CALL_ITEM.match(item)
        used = [m["func"], m["rest"]] if m else [item.removeprefix("*")]
        for name in used:
            if name not in known:
                raise _fail(path, f"{key}.args", f"{item!r} uses {name!r}, which is not in params")


def load_spec(path: str | Path) -> Spec:
    """Read and validate the spec at ``path``.

    Raises SpecError if the file cannot be read, is not TOML, or any key is
    missing, unknown or of the wrong type.
    """
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{where}: cannot read the spec: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{where}: not valid TOML: {exc}") from exc
    return parse_spec(data, where)


def parse_spec(data: dict[str, Any], where: str = "<spec>") -> Spec:
    """Validate an already-parsed spec table; see :func:`load_spec`."""
    unknown = set(data) - {"spec", "names", "calls", "keep", "refuse"}
    if unknown:
        raise _fail(where, "<top>", f"unknown table(s) {sorted(unknown)!r}")
    head = data.get("spec")
    if not isinstance(head, dict):
        raise _fail(where, "spec", "missing table: add [spec] with source = ... and target = ...")
    bad = set(head) - {"source", "target", "description"}
    if bad:
        raise _fail(where, "spec", f"unknown key(s) {sorted(bad)!r}")
    for k in ("source", "target"):
        if k not in head:
            raise _fail(where, f"spec.{k}", "missing required key")
    source = _str(where, "spec.source", head["source"], pattern=_DOTTED)
    target = _str(where, "spec.target", head["target"], pattern=_DOTTED)
    description = head.get("description", f"{source} to {target}")
    if not isinstance(description, str):
        raise _fail(where, "spec.description", f"must be a string, got {description!r}")
    rules: dict[str, Rule] = {}
    names = data.get("names", {})
    if not isinstance(names, dict):
        raise _fail(where, "names", f"must be a table, got {names!r}")
    for name, value in names.items():
        _str(where, f"names.{name}", name, pattern=_DOTTED)
        rules[name] = Rule(name, _target(where, f"names.{name}", value, target))
    calls = data.get("calls", {})
    if not isinstance(calls, dict):
        raise _fail(where, "calls", f"must be a table, got {calls!r}")
    for name, table in calls.items():
        _str(where, f"calls.{name}", name, pattern=_DOTTED)
        if name in rules:
            raise _fail(where, f"calls.{name}", "is also listed in [names]; keep one")
        rules[name] = _call_rule(where, name, table, target)
    keep_raw = data.get("keep", {})
    if not isinstance(keep_raw, dict):
        raise _fail(where, "keep", f"must be a table of name = why, got {keep_raw!r}")
    keep = frozenset(k for k, v in keep_raw.items() if _str(where, f"keep.{k}", v))
    refuse_raw = data.get("refuse", {})
    if not isinstance(refuse_raw, dict):
        raise _fail(where, "refuse", f"must be a table of name = reason, got {refuse_raw!r}")
    refuse = {k: _str(where, f"refuse.{k}", v) for k, v in refuse_raw.items()}
    for name in (*keep, *refuse):
        if name in rules:
            raise _fail(where, name, "is both converted and kept/refused; keep one")
    return Spec(where, source, target, description, rules, keep, refuse)
