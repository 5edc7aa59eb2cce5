"""The one restricted evaluator for every expression and script a diagram carries.

SpiffWorkflow would `eval`/`exec` gateway conditions, script tasks, multi-instance cardinality,
DMN cells and service-task parameters as Python. RestrictedPython's recipe escaped in one line and
did not stop `while True` (both measured on SpiffWorkflow 3.2.0), so nothing here reaches `eval` or `exec`:
the source is parsed with `ast`, checked against a whitelist of node types, and *interpreted* by
walking the tree. No imports, no attribute access except a short list of pure methods on plain
data, no names that start with an underscore, only whitelisted functions, no loops in scripts
(comprehensions are bounded by the size of the data they walk), a step budget and a wall-clock
deadline for time, and a size cap on every value produced for memory. Timer expressions never
come here: they are ISO-8601 literals (see parser.py and ExpressionEngine.evaluate).
"""
from __future__ import annotations

import ast
import datetime as _dt
import decimal
import functools
import operator
import time
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_noop
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import serializer


class ExpressionRefused(Exception):
    """The expression uses something the sandbox does not allow; the message says what. A refusal
    found before anything runs (deploy's check) also carries its words untranslated (`template`,
    `params`): the studio shows them in its user's language, while a message kept with a case stays
    as written."""

    def __init__(self, message: str = "", *, template: str | None = None, params: dict | None = None):
        super().__init__(message)
        self.template, self.params = template, dict(params or {})

    def translated(self) -> str:
        """The refusal in the active language, where it has words of its own; else as raised."""
        if self.template is None:
            return str(self)
        from django.utils.translation import gettext

        return gettext(self.template) % self.params


def _refused(template: str, cls: type[ExpressionRefused] | None = None, **params) -> ExpressionRefused:
    """A refusal with translatable words (`template`, marked for translation where it is written)."""
    return (cls or ExpressionRefused)(template % params, template=template, params=params)


class ExpressionLimitExceeded(ExpressionRefused):
    """The expression ran out of steps, time or size."""


@dataclass(frozen=True)
class Limits:
    max_steps: int = 20_000
    max_seconds: float = 0.5
    max_size: int = 100_000  # longest string / largest container / bits of an int
    max_source_chars: int = 10_000
    # Work done inside one builtin, comparison or hash is charged before it runs: the operands'
    # deep weight (see `weight`), summed over the evaluation, may not exceed this.
    max_work: int = 2_000_000
    # The estimated JSON size of what an evaluation hands back (a script's task data, an
    # expression's value), measured deeply with shared references counted each time.
    max_output_bytes: int = 1_000_000
    max_digits: int = 4_300  # of an int or Decimal that int()/str()/round() may produce (CPython's own str limit)
    max_cardinality: int = 200  # children of one multi-instance activity
    # The backstop (engine/spiff/backstop.py): evaluate in a worker process that is killed after
    # this many seconds, even inside one builtin call. None evaluates in this process.
    hard_seconds: float | None = 0.75


_BIN_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY_OPS = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_CMP_OPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}

_SAFE_FUNCTIONS = {
    "len": len, "min": min, "max": max, "abs": abs, "round": round, "sum": sum, "any": any, "all": all,
    "sorted": sorted, "int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict,
    "Decimal": decimal.Decimal,
}
_SAFE_CONSTANTS = {"True": True, "False": False, "None": None, "true": True, "false": False, "null": None}

# Pure methods on plain data. Anything not listed (format, mro, __class__ ...) is refused.
_SAFE_METHODS = {
    str: {"lower", "upper", "strip", "startswith", "endswith", "split", "isdigit"},
    dict: {"get", "keys", "values", "items"},
    list: {"count", "index"},
    tuple: {"count", "index"},
}

_ALL_SAFE_METHODS = set().union(*_SAFE_METHODS.values())

_EXPRESSION_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp,
    ast.Constant, ast.Name, ast.Load, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Subscript, ast.Slice,
    ast.Call, ast.Attribute, ast.keyword, ast.ListComp, ast.GeneratorExp, ast.comprehension, ast.Store,
    *_BIN_OPS, *_UNARY_OPS, *_CMP_OPS,
)
_SCRIPT_NODES = _EXPRESSION_NODES + (ast.Module, ast.Assign, ast.AugAssign, ast.If, ast.Expr, ast.Pass)


class _Interpreter:
    def __init__(self, names: dict[str, Any], limits: Limits):
        self.names = names
        self.limits = limits
        self.steps = 0
        self.work = 0
        self.deadline = time.monotonic() + limits.max_seconds

    # -- budget ---------------------------------------------------------------------------------
    def tick(self):
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise ExpressionLimitExceeded(f"expression exceeded {self.limits.max_steps} steps")
        if self.steps % 64 == 0 and time.monotonic() > self.deadline:
            raise ExpressionLimitExceeded(f"expression exceeded {self.limits.max_seconds}s")

    def checked(self, value):
        size = self.limits.max_size
        if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) and len(value) > size:
            raise ExpressionLimitExceeded(f"value larger than {size} items")
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > size:
            raise ExpressionLimitExceeded("number too large")
        if isinstance(value, decimal.Decimal) and value.is_finite():
            _check_decimal(value, self.limits)
        return value

    def charge(self, *values):
        """Charge the deep weight of `values` against the work budget before an operation whose
        cost grows with it (a builtin, a comparison, a hash). Plain scalars are free."""
        for value in values:
            if value is None or isinstance(value, (bool, int, float, str, decimal.Decimal)):
                continue
            left = self.limits.max_work - self.work
            self.work += weight(value, left)
            if self.work > self.limits.max_work:
                raise ExpressionLimitExceeded(f"expression exceeded its work budget ({self.limits.max_work} units)")

    # -- statements -----------------------------------------------------------------------------
    def run(self, body):
        for stmt in body:
            self.tick()
            if isinstance(stmt, ast.Assign):
                value = self.eval(stmt.value)
                for target in stmt.targets:
                    self.assign(target, value)
            elif isinstance(stmt, ast.AugAssign):
                current = self.eval(_as_load(stmt.target))
                self.assign(stmt.target, self.binop(stmt.op, current, self.eval(stmt.value)))
            elif isinstance(stmt, ast.If):
                self.run(stmt.body if self.eval(stmt.test) else stmt.orelse)
            elif isinstance(stmt, ast.Expr):
                self.eval(stmt.value)
            elif isinstance(stmt, ast.Pass):
                pass
            else:  # pragma: no cover - the whitelist check runs first
                raise ExpressionRefused(f"{type(stmt).__name__} is not allowed")

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            _check_name(target.id)
            self.names[target.id] = value
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            if not isinstance(container, (dict, list)):
                raise ExpressionRefused("only dicts and lists can be assigned into")
            key = self.eval(target.slice)
            if isinstance(key, slice):
                if not isinstance(container, list) or not isinstance(value, (list, tuple, str)):
                    raise ExpressionRefused("a slice can be assigned only a list, tuple or text")
                replaced = len(range(*key.indices(len(container))))
                if len(container) - replaced + len(value) > self.limits.max_size:
                    raise ExpressionLimitExceeded(f"value larger than {self.limits.max_size} items")
            else:
                self.charge(key)
                if isinstance(container, dict) and key not in container and len(container) >= self.limits.max_size:
                    raise ExpressionLimitExceeded(f"value larger than {self.limits.max_size} items")
            container[key] = value
        else:
            raise ExpressionRefused(f"cannot assign to {type(target).__name__}")

    # -- expressions ----------------------------------------------------------------------------
    def eval(self, node):  # noqa: C901 - one dispatch over the whitelist reads best in one place
        self.tick()
        if isinstance(node, ast.Constant):
            return self.checked(node.value)
        if isinstance(node, ast.Name):
            _check_name(node.id)
            if node.id in self.names:
                return self.names[node.id]
            if node.id in _SAFE_CONSTANTS:
                return _SAFE_CONSTANTS[node.id]
            if node.id in _SAFE_FUNCTIONS:
                return _SAFE_FUNCTIONS[node.id]
            raise NameError(f"name '{node.id}' is not defined")
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result = True
                for value in node.values:
                    result = self.eval(value)
                    if not result:
                        return result
                return result
            result = False
            for value in node.values:
                result = self.eval(value)
                if result:
                    return result
            return result
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.UnaryOp):
            return self.checked(_UNARY_OPS[type(node.op)](self.eval(node.operand)))
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = self.eval(comparator)
                if not isinstance(op, (ast.Is, ast.IsNot)):
                    self.charge(left, right)
                if not _CMP_OPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.eval(e) for e in node.elts]
            if isinstance(node, ast.Set):
                self.charge(*items)
            return self.checked({ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items))
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise ExpressionRefused("** in a dict display is not allowed")
            pairs = [(self.eval(k), self.eval(v)) for k, v in zip(node.keys, node.values)]
            self.charge(*(k for k, _v in pairs))
            return self.checked(dict(pairs))
        if isinstance(node, ast.Subscript):
            container, key = self.eval(node.value), self.eval(node.slice)
            if isinstance(container, dict):
                self.charge(key)
            return self.checked(container[key])
        if isinstance(node, ast.Slice):
            return slice(*(self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Attribute):
            return self.attribute(self.eval(node.value), node.attr)
        if isinstance(node, ast.Call):
            func = self.eval(node.func)
            if not (func in _SAFE_FUNCTIONS.values() or isinstance(func, _BoundSafeMethod)):
                raise ExpressionRefused("only whitelisted functions may be called")
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                raise ExpressionRefused("* and ** in calls are not allowed")
            args = [self.eval(a) for a in node.args]
            kwargs = {k.arg: self.eval(k.value) for k in node.keywords}
            for value in args:
                self.checked(value)
            self.before_call(func, args, kwargs)
            return self.checked(func(*args, **kwargs))
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self.checked(self.comprehension(node))
        raise ExpressionRefused(f"{type(node).__name__} is not allowed")

    def before_call(self, func, args, kwargs):
        """Bound what one builtin call can cost before it runs: its cost grows with its operands."""
        if func is len or func is bool:
            return
        if isinstance(func, _BoundSafeMethod):
            owner = func.method.__self__
            # list/tuple count and index compare every item; str methods are bounded by max_size;
            # dict methods hash their argument only
            self.charge(*((owner, *args) if isinstance(owner, (list, tuple)) else args))
            return
        self.charge(*args, *kwargs.values())
        if func in (sorted, max, min) and len(args) == 1 and isinstance(args[0], (list, tuple, set, dict)):
            # Comparing two containers walks them: max/min compare each item once (charged above),
            # sorted about log2(n) times. Scalars compare in constant time.
            items = args[0]
            if any(type(item) in _CONTAINERS for item in items):
                for _ in range(len(items).bit_length() if func is sorted else 1):
                    self.charge(items)
        if func is sum:
            start = args[1] if len(args) > 1 else kwargs.get("start", 0)
            if not isinstance(start, (int, float, decimal.Decimal)):
                raise ExpressionRefused("sum() adds numbers only")
        if func is round:
            ndigits = args[1] if len(args) > 1 else kwargs.get("ndigits")
            if isinstance(ndigits, int) and abs(ndigits) > 100:
                raise ExpressionLimitExceeded("round() to more than 100 digits")
        if func is int and args and isinstance(args[0], decimal.Decimal) and args[0].is_finite():
            if args[0].adjusted() > self.limits.max_digits:
                raise ExpressionLimitExceeded("number too large")
        if func in (int, decimal.Decimal) and args and isinstance(args[0], str) and len(args[0]) > self.limits.max_digits:
            raise ExpressionLimitExceeded(f"a number longer than {self.limits.max_digits} characters")

    def binop(self, op, left, right):
        if isinstance(op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
            raise ExpressionLimitExceeded("exponent too large")
        if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0 \
                and left.bit_length() * right > self.limits.max_size:
            raise ExpressionLimitExceeded("number too large")
        if isinstance(left, decimal.Decimal) or isinstance(right, decimal.Decimal):
            for number in (left, right):
                if isinstance(number, decimal.Decimal) and number.is_finite():
                    _check_decimal(number, self.limits)
        if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int) \
                and left.bit_length() + right.bit_length() > self.limits.max_size + 1:
            raise ExpressionLimitExceeded("number too large")
        if isinstance(op, ast.Mult):
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > self.limits.max_size:
                    raise ExpressionLimitExceeded(f"value larger than {self.limits.max_size} items")
        if isinstance(op, ast.Add) and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            if len(left) + len(right) > self.limits.max_size:
                raise ExpressionLimitExceeded(f"value larger than {self.limits.max_size} items")
        if isinstance(op, ast.Mod) and isinstance(left, (str, bytes, bytearray)):
            raise ExpressionRefused("string formatting with % is not allowed")
        return self.checked(_BIN_OPS[type(op)](left, right))

    def attribute(self, value, attr):
        _check_name(attr)
        allowed = next((names for kind, names in _SAFE_METHODS.items() if isinstance(value, kind)), set())
        if attr not in allowed:
            raise ExpressionRefused(f"attribute '{attr}' is not allowed")
        return _BoundSafeMethod(getattr(value, attr))

    def comprehension(self, node):
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise ExpressionRefused("only simple comprehensions are allowed")
        gen = node.generators[0]
        if not isinstance(gen.target, ast.Name):
            raise ExpressionRefused("comprehension target must be a name")
        _check_name(gen.target.id)
        iterable = self.eval(gen.iter)
        saved = self.names.get(gen.target.id, _MISSING)
        results = []
        try:
            for item in iterable:
                self.tick()
                self.names[gen.target.id] = item
                if all(self.eval(cond) for cond in gen.ifs):
                    results.append(self.eval(node.elt))
        finally:
            if saved is _MISSING:
                self.names.pop(gen.target.id, None)
            else:
                self.names[gen.target.id] = saved
        return results


class _BoundSafeMethod:
    __slots__ = ("method",)

    def __init__(self, method):
        self.method = method

    def __call__(self, *args, **kwargs):
        return self.method(*args, **kwargs)


_MISSING = object()
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


def _check_decimal(value: decimal.Decimal, limits: Limits) -> None:
    """A Decimal is stored as digits and an exponent: '1e999999999' is short but int() of it is not."""
    if abs(value.adjusted()) > limits.max_digits:
        raise ExpressionLimitExceeded("number too large")
    if len(value.as_tuple().digits) > limits.max_digits:
        raise ExpressionLimitExceeded("number too large")


_SCALAR_WEIGHT = {bool: 5, type(None): 4, float: 24}


def weight(value, cap: int) -> int:
    """About how many characters `value` would take as JSON, walked deeply with shared references
    counted each time they would be serialized (a cycle never ends, so it weighs more than any cap).
    Stops as soon as the total passes `cap` and returns it then: the walk costs at most `cap` nodes,
    so measuring is bounded by the budget it measures against."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
        elif kind is int:
            total += item.bit_length() // 3 + 1
        elif kind in _SCALAR_WEIGHT:
            total += _SCALAR_WEIGHT[kind]
        elif kind in (list, tuple, set, frozenset):
            total += len(item) + 2
            stack.extend(item)
        elif kind is dict:
            total += 2 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (bytes, bytearray)):
            total += len(item) + 2
        elif isinstance(item, decimal.Decimal):
            total += len(item.as_tuple().digits) + 8
        elif isinstance(item, (dict, list, tuple)):  # subclasses (a workflow's DataObject dicts ...)
            total += len(item) + 2
            stack.extend(item.values() if isinstance(item, dict) else item)
            if isinstance(item, dict):
                stack.extend(item.keys())
        else:
            total += 16
        if total > cap:
            return total
    return total


def _as_load(target):
    node = ast.Name(id=target.id, ctx=ast.Load()) if isinstance(target, ast.Name) else target
    return node


def _check_name(name: str):
    if name.startswith("_"):
        raise _refused(gettext_noop("names starting with '_' are not allowed ('%(name)s')"), name=name)


def _parse(source: str, mode: str, limits: Limits) -> ast.AST:
    if not isinstance(source, str):
        raise _refused(gettext_noop("expression must be text"))
    return _parse_checked(source, mode, limits.max_source_chars)


@functools.lru_cache(maxsize=1024)
def _parse_checked(source: str, mode: str, max_source_chars: int) -> ast.AST:
    """Parsed and checked once per text: a diagram's conditions run again and again. Refusals
    raise and are not cached; the interpreter never changes a tree."""
    if len(source) > max_source_chars:
        raise _refused(gettext_noop("expression longer than %(n)d characters"), ExpressionLimitExceeded, n=max_source_chars)
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as exc:
        raise _refused(gettext_noop("syntax error: %(why)s"), why=exc.msg) from None
    except (RecursionError, MemoryError):
        raise _refused(gettext_noop("expression nested more than %(n)d levels deep"), n=MAX_NESTING) from None
    _check_nesting(tree)
    allowed = _EXPRESSION_NODES if mode == "eval" else _SCRIPT_NODES
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise _refused(gettext_noop("%(kind)s is not allowed"), kind=type(node).__name__)
        if isinstance(node, ast.Name):
            _check_name(node.id)
        if isinstance(node, ast.Attribute):
            _check_name(node.attr)
            if node.attr not in _ALL_SAFE_METHODS:
                raise _refused(gettext_noop("attribute '%(name)s' is not allowed"), name=node.attr)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id not in _SAFE_FUNCTIONS:
                raise _refused(gettext_noop("function '%(name)s' is not allowed"), name=func.id)
            if not isinstance(func, (ast.Name, ast.Attribute)):
                raise _refused(gettext_noop("only named functions may be called"))
    return tree


MAX_NESTING = 100  # the interpreter walks the tree recursively; a deeper one is no real condition


def _check_nesting(tree: ast.AST) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise _refused(gettext_noop("expression nested more than %(n)d levels deep"), n=MAX_NESTING)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def check_expression(source: str, limits: Limits = Limits()) -> None:
    """Raise ExpressionRefused if `source` could never run here (used at deploy time)."""
    _parse(source, "eval", limits)


def check_script(source: str, limits: Limits = Limits()) -> None:
    _parse(source, "exec", limits)


def names_read(source: str, limits: Limits = Limits()) -> set[str]:
    """The workflow variables an expression reads: its free names, without the sandbox's functions
    and constants or a comprehension's own loop names. Deploy compares them with what the process's
    forms, services and scripts put into the workflow, so a misspelt field is caught before a case
    reaches the gateway. Raises ExpressionRefused like `check_expression`."""
    tree = _parse(source, "eval", limits)
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound - set(_SAFE_FUNCTIONS) - set(_SAFE_CONSTANTS)


def names_assigned(source: str, limits: Limits = Limits()) -> set[str]:
    """The variables a script sets (its assignment targets): what later conditions may read."""
    tree = _parse(source, "exec", limits)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def evaluate_expression(source: str, names: dict[str, Any], limits: Limits = Limits()) -> Any:
    if limits.hard_seconds is not None:
        from . import backstop
        return backstop.run("eval", source, names, limits)
    return _evaluate_here(source, names, limits)


def execute_script(source: str, names: dict[str, Any], limits: Limits = Limits()) -> dict[str, Any]:
    """Run a script; returns the names it leaves behind (the task data after the script)."""
    if limits.hard_seconds is not None:
        from . import backstop
        return backstop.run("exec", source, names, limits)
    return _execute_here(source, names, limits)


def _evaluate_here(source: str, names: dict[str, Any], limits: Limits) -> Any:
    tree = _parse(source, "eval", limits)
    value = _Interpreter(dict(names), limits).eval(tree.body)
    _check_output(value, limits)
    return value


def _execute_here(source: str, names: dict[str, Any], limits: Limits) -> dict[str, Any]:
    tree = _parse(source, "exec", limits)
    scope = dict(names)
    _Interpreter(scope, limits).run(tree.body)
    _check_output(scope, limits)
    return scope


def _check_output(value, limits: Limits) -> None:
    """What goes back into the case must fit the byte budget, measured before anything serializes it."""
    if weight(value, limits.max_output_bytes) > limits.max_output_bytes:
        raise ExpressionLimitExceeded(f"the result would take more than {limits.max_output_bytes} bytes to store")


def normalize_timer_literal(expression: str) -> str:
    """'"PT24H"', "'PT24H'" and 'PT24H' all mean PT24H; anything else is not a timer literal."""
    text = (expression or "").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def parse_timer_literal(expression: str):
    """Validate an ISO-8601 duration, date-time or repeating interval without evaluating anything."""
    literal = normalize_timer_literal(expression)
    if not literal or len(literal) > 100:
        raise ValueError("empty or over-long timer expression")
    upper = literal.upper()
    if upper.startswith("R"):
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(literal)
        if duration.total_seconds() <= 0:
            raise ValueError("timer cycle must be positive")
        return literal
    if upper.startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(literal)
        if not parsed:
            raise ValueError("empty duration")
        return literal
    _dt.datetime.fromisoformat(literal)
    return literal


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow also calls `script_engine.environment.evaluate` directly (message correlations,
    ad-hoc subprocess conditions): the environment must be the sandbox too, never `eval`."""

    def __init__(self, limits: Limits):
        super().__init__({})
        self.limits = limits

    def evaluate(self, expression, context, external_context=None):
        names = dict(context)
        names.update(external_context or {})
        return evaluate_expression(expression, names, self.limits)

    def execute(self, script, context, external_context=None):
        names = dict(context)
        names.update(external_context or {})
        result = execute_script(script, names, self.limits)
        for key in external_context or {}:
            result.pop(key, None)
        context.clear()
        context.update(result)
        return True

    def call_service(self, context, **kwargs):
        raise ExpressionRefused("service tasks run through the engine's registry only")


class ExpressionEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine, with every evaluation routed to the interpreter above and
    service tasks routed to the engine's registry (through `service_caller`)."""

    def __init__(self, limits: Limits = Limits(), service_caller=None, service_queuer=None):
        super().__init__(environment=SandboxEnvironment(limits))
        self.limits = limits
        self.service_caller = service_caller
        self.service_queuer = service_queuer

    def validate(self, expression):
        # SpiffWorkflow's DMN engine probes with validate() and expects SyntaxError for "not an
        # expression on its own"; anything parseable must then also pass the sandbox's check.
        ast.parse(expression.strip(), mode="eval")
        check_expression(expression, self.limits)

    def _timer_literal(self, task, expression):
        spec = getattr(task, "task_spec", None)
        definition = getattr(spec, "event_definition", None)
        candidates = getattr(definition, "event_definitions", None) or [definition]
        for candidate in candidates:
            if isinstance(candidate, TimerEventDefinition) and candidate.expression is expression:
                return normalize_timer_literal(expression)
        return None

    def evaluate(self, task, expression, external_context=None):
        literal = self._timer_literal(task, expression)
        if literal is not None:
            try:
                return parse_timer_literal(literal)
            except Exception as exc:
                raise WorkflowTaskException(f"Timer '{literal[:80]}' is not an ISO-8601 literal", task=task, exception=exc)
        names = dict(task.data)
        names.update(external_context or {})
        try:
            value = evaluate_expression(expression, names, self.limits)
        except Exception as exc:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': {exc}", task=task, exception=exc)
        if expression is getattr(getattr(task, "task_spec", None), "cardinality", _MISSING):
            self._check_cardinality(task, value)
        return value

    def _check_cardinality(self, task, value):
        """A multi-instance activity makes one child task per count, each carrying a copy of the data:
        the count is bounded before SpiffWorkflow builds them."""
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise WorkflowTaskException(f"Multi-instance cardinality must be a whole number, not {type(value).__name__}", task=task)
        if value > self.limits.max_cardinality:
            raise WorkflowTaskException(
                f"Multi-instance cardinality {value} is more than the {self.limits.max_cardinality} allowed", task=task)

    def execute(self, task, script, external_context=None):
        names = dict(task.data)
        names.update(external_context or {})
        try:
            result = execute_script(script, names, self.limits)
        except Exception as exc:
            raise WorkflowTaskException(f"Script refused or failed: {exc}", task=task, exception=exc)
        for key in external_context or {}:
            result.pop(key, None)
        for key, value in result.items():
            problem = serializer.storable_problem(value)
            if problem:
                raise WorkflowTaskException(f"Script set '{key}' to a value that cannot be stored: {problem}", task=task)
        task.data.clear()
        task.data.update(result)
        return True

    def queue_service(self, task, operation_name: str, operation_params: dict) -> bool:
        """True if the operation is asynchronous and was queued (the task then waits); False to call it now."""
        if self.service_queuer is None:
            return False
        try:
            return self.service_queuer(task, operation_name, operation_params or {})
        except Exception as exc:
            raise WorkflowTaskException(f"Service task '{operation_name}' could not be queued: {exc}", task=task, exception=exc)

    def call_service(self, task, **kwargs):
        if self.service_caller is None:
            raise WorkflowTaskException("No service tasks are available here", task=task)
        try:
            return self.service_caller(task, kwargs["operation_name"], kwargs.get("operation_params") or {})
        except Exception as exc:
            raise WorkflowTaskException(f"Service task '{kwargs.get('operation_name')}' failed: {exc}", task=task, exception=exc)
