"""runner.pattern: `$` in a `matches` pattern anchors at the true end of the text."""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.pattern import compile_pattern, end_anchored


@pytest.mark.parametrize(
    "pattern, text, matches",
    [
        ("^[0-9]+$", "123", True),
        ("^[0-9]+$", "123\n", False),  # Python's own `$` accepts this
        ("^[0-9]+$", "123\n\n", False),
        ("ok$", "it is ok\n", False),
        ("ok\n$", "ok\n", True),  # the newline written in the pattern is matched
        ("^a$|^b$", "b\n", False),
        ("(?m)^b$", "a\nb\n", True),  # multiline: `$` at every line end, as JavaScript's m flag
        ("(?m:^b$)", "b\nc", True),
        ("(?m:^b$)x$", "b\nx\n", False),  # the scoped group ends; `$` after it is the end again
        ("(?m)(?-m:b$)", "b\n", False),
        (r"\$$", "costs $", True),  # an escaped `$` is the character
        (r"\$$", "costs $\n", False),
        ("[$]", "$", True),  # inside a class `$` is the character
        ("[]$]x$", "$x", True),
        ("[^]$\n]$", "a\n", False),
        ("(?x) a $  # the end $", "a", True),
        ("(?x) a $  # the end $", "a\n", False),
        ("(?#a comment with $)a$", "a\n", False),
        ("(?P<n>a)(?P=n)$", "aa\n", False),
        ("(?<=a)$", "a\n", False),
    ],
)
def test_dollar_means_the_end_of_the_text(pattern, text, matches):
    assert (compile_pattern(pattern).search(text) is not None) is matches


def test_only_anchors_are_rewritten():
    assert end_anchored("^a$|b$") == r"^a\Z|b\Z"
    assert end_anchored(r"[$\]$]\$(?m)$") == r"[$\]$]\$(?m)$"


_ATOMS = st.sampled_from(
    ["a", "b", "$", "^", "\\$", "\\n", "\n", "[$]", "[^a]", "[]a]", "(", ")", "(?m)", "(?m:", "(?-m:", "(?:",
     "(?x)", "#", " ", "|", "*", "?", "+", "\\", ".", "(?#", "(?=", "(?<=", "{1}"]
)
_TEXTS = st.text(alphabet="ab$\n #", max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ATOMS, max_size=8).map("".join), _TEXTS)
def test_the_rewrite_keeps_validity_and_changes_only_texts_ending_in_a_newline(pattern, text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            original = re.compile(pattern)
        except (re.error, OverflowError, RecursionError):
            with pytest.raises(re.error):
                compile_pattern(pattern)
            return
        rewritten = compile_pattern(pattern)
    if not text.endswith("\n"):
        a, b = original.search(text), rewritten.search(text)
        assert (a and a.span()) == (b and b.span())
    elif original.flags & re.MULTILINE:
        assert (original.search(text) is None) == (rewritten.search(text) is None)


def test_digits_follow_python_unicode_rules_unless_ascii_is_asked_for():
    """docs/spec.md: `\\d` matches other scripts' digits; `(?a)` (or [0-9]) keeps to ASCII."""
    assert compile_pattern(r"^\d+$").search("\u0663")
    assert not compile_pattern(r"(?a)^\d+$").search("\u0663")
    assert compile_pattern(r"(?a)^\d+$").search("123") and not compile_pattern(r"(?a)^\d+$").search("123\n")
