"""Hypothesis strategies for source text in the sandbox's language (ADR 0002): expressions built from
every node type and builtin it allows, with operands chosen to make work expensive — shared
references, long text, big numbers, format widths, repetitions, slices. Used by
tests/engine/test_sandbox_properties.py and bench/sandbox.py."""
from __future__ import annotations

from hypothesis import strategies as st

# What the generated expressions read. `big` is the largest list the interpreter lets a value be.
NAMES = {
    "n": 7, "x": 3.5, "text": "abc" * 10, "items": list(range(50)), "big": list(range(100_000)),
    "nested": [[i, str(i)] for i in range(200)], "d": {"a": 1, "b": [1, 2, 3], "c": {"k": "v"}},
    "empty": [], "long": "z" * 100_000,
}

ATOMS = st.sampled_from([
    "n", "x", "text", "items", "big", "nested", "d", "empty", "long", "True", "None", "0", "1", "-1",
    "64", "99999", "100000", "10 ** 60", "2 ** 64", "'a'", "'%s'", "'{0}'", "b'%999999999d'",
    "'9' * 5000", "'a' * 99999", "[big] * 1000", "[big] * 100000", "(big,) * 50", "[[0] * 1000] * 100",
    "Decimal('1e999999')", "Decimal('9' * 5000)", "Decimal('1.5')", "1e308", "-10 ** 6", "[]", "{}",
    "d.keys()", "d.items()", "text.split('b')", "long.split('z')", "[1, [2, [3]]]",
])

BINOPS = ["+", "-", "*", "/", "//", "%", "**"]
CMPOPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]
FUNCTIONS = ["len", "min", "max", "abs", "round", "sum", "any", "all", "sorted", "int", "float", "str", "bool",
             "list", "dict", "Decimal"]
METHODS = ["lower", "upper", "strip", "startswith", "endswith", "split", "isdigit", "get", "keys", "values",
           "items", "count", "index"]


def _extend(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(BINOPS), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "not ", "+"]), children).map(lambda t: f"({t[0]}{t[1]})"),
        st.tuples(children, st.sampled_from(CMPOPS), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, st.sampled_from(["and", "or"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(children, max_size=3).map(lambda xs: "(" + "".join(x + ", " for x in xs) + ")"),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: "{" + ", ".join(xs) + "}"),
        st.lists(st.tuples(children, children), max_size=2).map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(children, children, children).map(lambda t: f"{t[0]}[{t[1]}:{t[2]}]"),
        st.tuples(st.sampled_from(FUNCTIONS), st.lists(children, min_size=1, max_size=2))
          .map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(st.sampled_from(["sorted", "max", "min"]), children, st.sampled_from(["len", "str", "abs"]))
          .map(lambda t: f"{t[0]}({t[1]}, key={t[2]})"),
        st.tuples(children, st.sampled_from(METHODS), st.lists(children, max_size=2))
          .map(lambda t: f"{t[0]}.{t[1]}({', '.join(t[2])})"),
        st.tuples(children, children, children).map(lambda t: f"[{t[0]} for v in {t[1]} if {t[2]}]"),
        st.tuples(children, children).map(lambda t: f"sum(v for v in {t[0]} if {t[1]})"),
    )


EXPRESSIONS = st.recursive(ATOMS | st.sampled_from(["v"]), _extend, max_leaves=8)

_TARGETS = st.sampled_from(["a", "b", "items", "nested", "d"])
STATEMENTS = st.one_of(
    st.tuples(_TARGETS, EXPRESSIONS).map(lambda t: f"{t[0]} = {t[1]}"),
    st.tuples(_TARGETS, st.sampled_from(["+=", "*=", "-="]), EXPRESSIONS).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    st.tuples(_TARGETS, EXPRESSIONS, EXPRESSIONS).map(lambda t: f"{t[0]}[{t[1]}] = {t[2]}"),
    st.tuples(_TARGETS, EXPRESSIONS, EXPRESSIONS, EXPRESSIONS).map(lambda t: f"{t[0]}[{t[1]}:{t[2]}] = {t[3]}"),
    st.tuples(_TARGETS, _TARGETS).map(lambda t: f"{t[0]}[0:0] = {t[1]}"),
    st.tuples(EXPRESSIONS, _TARGETS, EXPRESSIONS).map(lambda t: f"if {t[0]}:\n    {t[1]} = {t[2]}\nelse:\n    pass"),
)
SCRIPTS = st.lists(STATEMENTS, min_size=1, max_size=6).map(lambda lines: "a = [1]\nb = [big]\n" + "\n".join(lines))
