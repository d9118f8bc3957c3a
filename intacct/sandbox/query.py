"""Query predicates: the legacy ``readByQuery`` string language, the ``query`` filter element, and
their evaluation against generated records.

Both front ends produce the same small AST (frozen dataclasses, so a predicate can key a cache).
:func:`resolve` maps field names to an object's canonical names (case-insensitively) and
:func:`compile_predicate` turns the AST into a function of a record accessor.

Semantics follow SQL as Intacct applies it: an empty value is NULL, so every comparison with it is
false and only ``IS NULL`` matches it; string comparisons are case-sensitive unless the ``query``
option ``caseinsensitive`` is set; dates and timestamps compare as instants whatever format the
operand uses (``MM/DD/YYYY[ HH:MM:SS]`` or ISO).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .schema import FieldDef, ObjectDef, parse_timestamp

__all__ = [
    "And",
    "Between",
    "Cmp",
    "HoleCheck",
    "In",
    "IsNull",
    "Like",
    "Node",
    "Not",
    "Or",
    "QueryError",
    "TrueNode",
    "UnknownFieldError",
    "compile_predicate",
    "parse_filter",
    "parse_read_by_query",
    "resolve",
]


class QueryError(ValueError):
    """The query text or filter is malformed (bad syntax, bad operand)."""


class UnknownFieldError(QueryError):
    """A field named in the query does not exist on the object."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(",".join(names))
        self.names = names


class Node:
    """Base class of predicate nodes."""


@dataclass(frozen=True)
class TrueNode(Node):
    """Matches every record."""


@dataclass(frozen=True)
class Cmp(Node):
    """``field op value`` with op one of ``= != < <= > >=``."""

    field: str
    op: str
    value: str


@dataclass(frozen=True)
class Between(Node):
    """``low <= field <= high``."""

    field: str
    low: str
    high: str


@dataclass(frozen=True)
class In(Node):
    """``field [not] in (values)``."""

    field: str
    values: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class Like(Node):
    """``field [not] like pattern`` (``%`` any run, ``_`` one character)."""

    field: str
    pattern: str
    negate: bool = False


@dataclass(frozen=True)
class IsNull(Node):
    """``field IS [NOT] NULL`` (an empty value is NULL)."""

    field: str
    negate: bool = False


@dataclass(frozen=True)
class HoleCheck(Node):
    """Internal: the record's modification timestamp is empty (or, negated, present)."""

    negate: bool = False


@dataclass(frozen=True)
class And(Node):
    """All children match."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    """At least one child matches."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    """The child does not match."""

    item: Node


# --- readByQuery string parser -----------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    \s*(?:
      (?P<str>'(?:\\.|[^'\\])*')
    | (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<op><>|!=|<=|>=|=|<|>)
    | (?P<lp>\()
    | (?P<rp>\))
    | (?P<comma>,)
    | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(
                f"unexpected character at position {pos + 1}: {text[pos : pos + 20]!r}"
            )
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("unexpected end of query")
        self.i += 1
        return tok

    def kw(self, *words: str) -> bool:
        tok = self.peek()
        return bool(tok and tok[0] == "word" and tok[1].upper() in words)

    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise QueryError(f"expected {word}")
        self.i += 1

    def parse(self) -> Node:
        if not self.toks:
            return TrueNode()
        node = self.or_expr()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.kw("OR"):
            self.i += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.kw("AND"):
            self.i += 1
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.kw("NOT"):
            self.i += 1
            return Not(self.not_expr())
        return self.primary()

    def value(self) -> str:
        kind, value = self.take()
        if kind not in ("str", "num"):
            raise QueryError(f"expected a value, got {value!r}")
        return value

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "lp":
            node = self.or_expr()
            if self.take()[0] != "rp":
                raise QueryError("missing )")
            return node
        if kind != "word":
            raise QueryError(f"expected a field name, got {value!r}")
        field = value
        if self.kw("IS"):
            self.i += 1
            negate = False
            if self.kw("NOT"):
                self.i += 1
                negate = True
            self.expect_kw("NULL")
            return IsNull(field, negate)
        negate = False
        if self.kw("NOT"):
            self.i += 1
            negate = True
            if not self.kw("LIKE", "IN"):
                raise QueryError("expected LIKE or IN after NOT")
        if self.kw("LIKE"):
            self.i += 1
            return Like(field, self.value(), negate)
        if self.kw("IN"):
            self.i += 1
            if self.take()[0] != "lp":
                raise QueryError("expected ( after IN")
            values = [self.value()]
            while True:
                kind, _ = self.take()
                if kind == "rp":
                    break
                if kind != "comma":
                    raise QueryError("expected , or ) in IN list")
                values.append(self.value())
            return In(field, tuple(values), negate)
        kind, op = self.take()
        if kind != "op":
            raise QueryError(f"expected an operator after {field}, got {op!r}")
        return Cmp(field, "!=" if op == "<>" else op, self.value())


def parse_read_by_query(text: str | None) -> Node:
    """Parse a ``readByQuery`` query string (empty means every record)."""
    return _Parser(text or "").parse()


# --- query filter element ----------------------------------------------------------------------

_CMP_OPS = {
    "equalto": "=",
    "notequalto": "!=",
    "lessthan": "<",
    "lessthanorequalto": "<=",
    "greaterthan": ">",
    "greaterthanorequalto": ">=",
}


def _child_text(el: Any, name: str) -> str | None:
    for c in el:
        if isinstance(c.tag, str) and c.tag == name:
            return str(c.text or "").strip()
    return None


def _values(el: Any) -> list[str]:
    return [str(c.text or "").strip() for c in el if isinstance(c.tag, str) and c.tag == "value"]


def parse_filter(el: etree._Element) -> Node:
    """Parse the single child of a ``query``'s ``filter`` element (or the element itself)."""
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag == "filter":
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            return TrueNode()
        if len(children) > 1:
            return And(tuple(parse_filter(c) for c in children))
        return parse_filter(children[0])
    if tag in ("and", "or"):
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            raise QueryError(f"{tag} needs at least one condition")
        items = tuple(parse_filter(c) for c in children)
        if len(items) == 1:
            return items[0]
        return And(items) if tag == "and" else Or(items)
    field = _child_text(el, "field")
    if not field:
        raise QueryError(f"{tag or 'filter'} requires a field")
    if tag in _CMP_OPS:
        values = _values(el)
        if len(values) != 1:
            raise QueryError(f"{tag} requires exactly one value")
        return Cmp(field, _CMP_OPS[tag], values[0])
    if tag == "between":
        values = _values(el)
        if len(values) != 2:
            raise QueryError("between requires two values")
        return Between(field, values[0], values[1])
    if tag in ("in", "notin"):
        values = _values(el)
        if not values:
            raise QueryError(f"{tag} requires at least one value")
        return In(field, tuple(values), tag == "notin")
    if tag in ("like", "notlike"):
        values = _values(el)
        if len(values) != 1:
            raise QueryError(f"{tag} requires exactly one value")
        return Like(field, values[0], tag == "notlike")
    if tag in ("isnull", "isnotnull"):
        return IsNull(field, tag == "isnotnull")
    raise QueryError(f"unknown filter operator {tag}")


# --- resolution and compilation ----------------------------------------------------------------


def resolve(node: Node, odef: ObjectDef) -> Node:
    """The predicate with canonical field names; raises :class:`UnknownFieldError`."""
    unknown: list[str] = []

    def fix(n: Node) -> Node:
        if isinstance(n, (And, Or)):
            return type(n)(tuple(fix(i) for i in n.items))
        if isinstance(n, Not):
            return Not(fix(n.item))
        field = getattr(n, "field", None)
        if isinstance(field, str):
            fdef = odef.field(field)
            if fdef is None:
                unknown.append(field)
                return n
            return _replace_field(n, fdef.name)
        return n

    out = fix(node)
    if unknown:
        raise UnknownFieldError(unknown)
    return out


def _replace_field(n: Node, name: str) -> Node:
    if isinstance(n, Cmp):
        return Cmp(name, n.op, n.value)
    if isinstance(n, Between):
        return Between(name, n.low, n.high)
    if isinstance(n, In):
        return In(name, n.values, n.negate)
    if isinstance(n, Like):
        return Like(name, n.pattern, n.negate)
    if isinstance(n, IsNull):
        return IsNull(name, n.negate)
    return n


Accessor = Callable[[str], str]
Predicate = Callable[[Accessor], bool]


def _key_fn(fdef: FieldDef, ci: bool) -> Callable[[str], Any]:
    """Typed sort/compare key of a non-empty value (None when it cannot be read)."""
    kind = fdef.kind
    if kind == "int":

        def int_key(v: str) -> Any:
            try:
                return int(v)
            except ValueError:
                return None

        return int_key
    if kind == "decimal":

        def dec_key(v: str) -> Any:
            try:
                return float(v)
            except ValueError:
                return None

        return dec_key
    if kind in ("date", "datetime"):
        return parse_timestamp
    if kind == "bool":
        return lambda v: v.strip().lower() in ("true", "1", "t", "yes")
    if ci:
        return lambda v: v.casefold()
    return lambda v: v


def _operand(fdef: FieldDef, value: str, key: Callable[[str], Any]) -> Any:
    parsed = key(value)
    if parsed is None and fdef.kind in ("int", "decimal", "date", "datetime"):
        raise QueryError(f"invalid value '{value}' for field {fdef.name}")
    return parsed


def _like_regex(pattern: str, ci: bool) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        if ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ci else 0))


def compile_predicate(node: Node, odef: ObjectDef, ci: bool = False) -> Predicate:
    """A function ``pred(get) -> bool`` where ``get(field)`` returns a record's raw value."""
    if isinstance(node, TrueNode):
        return lambda get: True
    if isinstance(node, And):
        parts = [compile_predicate(i, odef, ci) for i in node.items]
        return lambda get: all(p(get) for p in parts)
    if isinstance(node, Or):
        parts = [compile_predicate(i, odef, ci) for i in node.items]
        return lambda get: any(p(get) for p in parts)
    if isinstance(node, Not):
        inner = compile_predicate(node.item, odef, ci)
        return lambda get: not inner(get)
    if isinstance(node, HoleCheck):
        wm = odef.modified_field
        if node.negate:
            return lambda get: get(wm) != ""
        return lambda get: get(wm) == ""
    field = getattr(node, "field", "")
    fdef = odef.field(field)
    if fdef is None:
        raise UnknownFieldError([field])
    name = fdef.name
    key = _key_fn(fdef, ci)
    if isinstance(node, IsNull):
        if node.negate:
            return lambda get: get(name) != ""
        return lambda get: get(name) == ""
    if isinstance(node, Like):
        rx = _like_regex(node.pattern, ci)
        negate = node.negate

        def like(get: Accessor) -> bool:
            v = get(name)
            if v == "":
                return False
            return (rx.fullmatch(v) is not None) != negate

        return like
    if isinstance(node, In):
        wanted = {_operand(fdef, v, key) for v in node.values}
        negate = node.negate

        def in_(get: Accessor) -> bool:
            v = get(name)
            if v == "":
                return False
            return (key(v) in wanted) != negate

        return in_
    if isinstance(node, Between):
        low, high = _operand(fdef, node.low, key), _operand(fdef, node.high, key)

        def between(get: Accessor) -> bool:
            v = get(name)
            if v == "":
                return False
            k = key(v)
            return k is not None and low <= k <= high

        return between
    if isinstance(node, Cmp):
        return _compile_cmp(name, node.op, _operand(fdef, node.value, key), key)
    raise QueryError(f"unsupported condition {node!r}")


def _compile_cmp(name: str, op: str, target: Any, key: Callable[[str], Any]) -> Predicate:
    def value_of(get: Accessor) -> Any:
        v = get(name)
        return None if v == "" else key(v)

    if op == "=":
        return lambda get: (k := value_of(get)) is not None and k == target
    if op == "!=":
        return lambda get: (k := value_of(get)) is not None and k != target
    if op == "<":
        return lambda get: (k := value_of(get)) is not None and k < target
    if op == "<=":
        return lambda get: (k := value_of(get)) is not None and k <= target
    if op == ">":
        return lambda get: (k := value_of(get)) is not None and k > target
    if op == ">=":
        return lambda get: (k := value_of(get)) is not None and k >= target
    raise QueryError(f"unknown operator {op}")


def sort_key_fn(fdef: FieldDef, ci: bool = False) -> Callable[[str], Any]:
    """Key for ordering by ``fdef`` (typed; empty values sort first)."""
    key = _key_fn(fdef, ci)

    def sort_key(v: str) -> Any:
        if v == "":
            return (0, 0)
        k = key(v)
        return (0, 0) if k is None else (1, k)

    return sort_key
