"""The lint rule registry: every rule declares trigger words, and they hold for what it finds.

The engine parses only files containing one of the registered trigger words,
so a rule whose words miss a case it detects is silently off for files
without any other rule's word. The tables of samples in test_check_rules are
the rules' specification: every finding on every sample must contain one of
its own rule's words (another rule's word is not enough).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import test_check_rules

from codemods import LegacyToShimCommand
from migrate._lint import engine
from migrate._lint.legacy import GENERATOR_DECORATORS
from migrate._lint.rules import CODES, LEGACY, RULES, TRIGGERS, Rule, register


@pytest.mark.parametrize("triggers", [(), ("",)])
def test_a_rule_without_trigger_words_cannot_be_registered(triggers: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"MIG999 declares no trigger words"):
        register(Rule("MIG999", "never registered", triggers=triggers, example=""))
    assert "MIG999" not in RULES and "MIG999" not in CODES


@pytest.mark.parametrize("code", ["MIG001", "MIG000"])
def test_a_taken_code_cannot_be_registered_again(code: str) -> None:
    with pytest.raises(ValueError, match=rf"{code!r} is already taken"):
        register(Rule(code, "duplicate", triggers=("x",), example=""))


def test_codes_are_the_registered_rules_plus_the_parse_error() -> None:
    assert list(CODES) == ["MIG000", *RULES]
    assert set(TRIGGERS) == {t for rule in RULES.values() for t in rule.triggers}


@pytest.mark.parametrize("rule", RULES.values(), ids=list(RULES))
def test_every_rule_fires_on_its_example_through_its_own_triggers(rule: Rule) -> None:
    assert any(word in rule.example for word in rule.triggers), rule.example
    codes = [f.code for f in engine.lint_source(rule.example, "example.py", flipped=True)]
    assert rule.code in codes


def _samples() -> list[tuple[str, bool]]:
    found = []
    for name in dir(test_check_rules):
        if re.fullmatch(r"MIG\d{3}", name):
            for param in getattr(test_check_rules, name):
                found += [(textwrap.dedent(param.values[0]), flag) for flag in (False, True)]
    return found


def test_every_finding_contains_a_trigger_of_its_own_rule() -> None:
    samples = _samples()
    assert len(samples) > 100  # the tables were found
    seen = set()
    for source, flipped in samples:
        for finding in engine.lint_source(source, "snippet.py", flipped=flipped):
            if finding.code == "MIG000":
                continue
            seen.add(finding.code)
            words = RULES[finding.code].triggers
            assert any(word in source for word in words), (finding, source)
    assert seen == set(RULES)  # every rule was exercised


def test_every_code_the_engine_emits_is_registered() -> None:
    emitted = set(re.findall(r'"(MIG\d{3})"', Path(engine.__file__).read_text()))
    assert emitted <= set(CODES)
    assert emitted >= set(RULES)


def test_the_legacy_tables_are_the_codemods_own() -> None:
    assert LegacyToShimCommand.load().source == LEGACY
    assert {"legacy.runtime.coroutine", "tornado.gen.coroutine", "asyncio.coroutine"} <= set(
        GENERATOR_DECORATORS
    )
