"""The emulated companies: records, sessions, result cursors and mutation.

:class:`Sandbox` holds many :class:`Company` objects (one per scenario plus any added) and the
gateway's server-side state (API sessions, ``readByQuery`` cursors).  Everything is thread-safe.

Records are lazy.  Each object of a company is an :class:`ObjectTable`: ``count`` base records
whose values are generated from their record number (:mod:`intacct.sandbox.schema`), plus small
overlays for what :meth:`Company.mutate` did (added records, changed values, deletions).  A filtered
page is answered without scanning when it can be:

- conditions on the key (``RECORDNO``), on the human ID (``VENDORID = 'V00042'``) and on
  ``WHENMODIFIED`` (non-decreasing in ``RECORDNO`` for base records) become a record-number
  interval, found by arithmetic or bisection;
- what remains, when it reads only periodic attributes (status, entity, empty WHENMODIFIED), is
  evaluated once per residue modulo :data:`~intacct.sandbox.schema.PERIOD`, so counting and
  paging are O(log n);
- anything else is scanned (and cached per predicate, since base records never change).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import secrets
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from intacct import catalog
from intacct.permissions import PERMISSION_ROWS, UDD_ROW_KEY, PermissionRow

from . import SANDBOX_SENDER_ID, SANDBOX_SENDER_PASSWORD, SANDBOX_USER_ID, SANDBOX_USER_PASSWORD
from .query import (
    And,
    Between,
    Cmp,
    HoleCheck,
    In,
    IsNull,
    Node,
    Not,
    Or,
    TrueNode,
    compile_predicate,
    sort_key_fn,
)
from .scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario, get_scenario
from .schema import (
    DATA_END,
    PERIOD,
    STANDARD_OBJECTS,
    DataProfile,
    Gen,
    ObjectDef,
    apbill_object,
    base_modified,
    build_generators,
    escape_text,
    format_timestamp,
    parse_timestamp,
    udd_object,
)

__all__ = [
    "DEFAULT_RECORDS",
    "DEFAULT_SESSION_TTL",
    "RESULT_ID_TTL",
    "Company",
    "Cursor",
    "MatchSet",
    "ObjectTable",
    "Sandbox",
    "Session",
]

#: Records per list object unless told otherwise.
DEFAULT_RECORDS = 50
#: Session lifetime, extended by every call (the 2025 captures show 12 hours).
DEFAULT_SESSION_TTL = 12 * 3600.0
#: How long an idle ``readByQuery`` resultId stays usable (unverified; chosen).
RESULT_ID_TTL = 30 * 60.0
#: Ranges at most this long are scanned directly rather than planned.
SCAN_LIMIT = 4096


# --- record sets -------------------------------------------------------------------------------


class BaseSet(Protocol):
    """An ascending set of base record numbers."""

    total: int

    def count_le(self, v: int) -> int:
        """How many members are ≤ v."""

    def contains(self, n: int) -> bool:
        """Whether n is a member."""

    def iter_from(self, v: int) -> Iterator[int]:
        """Members ≥ v, ascending."""

    def max(self) -> int:
        """The largest member (0 when empty)."""


class ArraySet:
    """A base set held as a sorted array of record numbers."""

    def __init__(self, members: Sequence[int]) -> None:
        self.members = members
        self.total = len(members)

    def count_le(self, v: int) -> int:
        """How many members are ≤ v."""
        return bisect.bisect_right(self.members, v)

    def contains(self, n: int) -> bool:
        """Whether n is a member."""
        i = bisect.bisect_left(self.members, n)
        return i < self.total and self.members[i] == n

    def iter_from(self, v: int) -> Iterator[int]:
        """Members ≥ v, ascending."""
        members = self.members
        for i in range(bisect.bisect_left(members, v), self.total):
            yield members[i]

    def max(self) -> int:
        """The largest member (0 when empty)."""
        return self.members[-1] if self.total else 0


class ResidueSet:
    """Base records in ``[lo, hi]`` whose number modulo :data:`PERIOD` is an allowed residue."""

    def __init__(self, lo: int, hi: int, residues: Sequence[int], prefix: Sequence[int]) -> None:
        self.lo, self.hi = lo, hi
        self.res = residues
        self.pre = prefix
        self.width = len(residues)
        self.total = max(0, self._f(hi + 1) - self._f(lo)) if hi >= lo else 0

    def _f(self, x: int) -> int:
        # Allowed numbers in [0, x).
        q, r = divmod(x, PERIOD)
        return q * self.width + self.pre[r]

    def count_le(self, v: int) -> int:
        """How many members are ≤ v."""
        if v < self.lo or self.total == 0:
            return 0
        return self._f(min(v, self.hi) + 1) - self._f(self.lo)

    def contains(self, n: int) -> bool:
        """Whether n is a member."""
        if not self.lo <= n <= self.hi:
            return False
        r = n % PERIOD
        return self.pre[r + 1] > self.pre[r]

    def iter_from(self, v: int) -> Iterator[int]:
        """Members ≥ v, ascending."""
        if self.total == 0:
            return
        t = self._f(max(v, self.lo))
        res, width, hi = self.res, self.width, self.hi
        while True:
            q, r = divmod(t, width)
            n = q * PERIOD + res[r]
            if n > hi:
                return
            yield n
            t += 1

    def max(self) -> int:
        """The largest member (0 when empty)."""
        if self.total == 0:
            return 0
        t = self._f(self.hi + 1) - 1
        q, r = divmod(t, self.width)
        return q * PERIOD + self.res[r]


class MatchSet:
    """The records matching a predicate: base matches minus touched records, plus overlay
    matches.  Ascending by record number."""

    def __init__(self, base: BaseSet, excluded: list[int], extra: list[int]) -> None:
        self.base = base
        self.excluded = excluded
        self.excluded_set = set(excluded)
        self.extra = extra
        self.total = base.total - len(excluded) + len(extra)

    def count_le(self, v: int) -> int:
        """How many matches have a record number ≤ v."""
        return (
            self.base.count_le(v)
            - bisect.bisect_right(self.excluded, v)
            + bisect.bisect_right(self.extra, v)
        )

    def iter_from(self, v: int) -> Iterator[int]:
        """Matches with record number ≥ v, ascending."""
        excluded = self.excluded_set
        base = (n for n in self.base.iter_from(v) if n not in excluded)
        extra = self.extra[bisect.bisect_left(self.extra, v) :]
        if not extra:
            yield from base
            return
        yield from _merge(base, extra)

    def slice(self, start: int, size: int) -> list[int]:
        """Matches at ascending positions ``[start, start + size)``."""
        if size <= 0 or start >= self.total:
            return []
        if start <= 0:
            return list(itertools.islice(self.iter_from(0), size))
        lo, hi = 0, max(self.base.max(), self.extra[-1] if self.extra else 0)
        # Smallest v with count_le(v) > start: the record at position ``start``.
        while lo < hi:
            mid = (lo + hi) // 2
            if self.count_le(mid) > start:
                hi = mid
            else:
                lo = mid + 1
        return list(itertools.islice(self.iter_from(lo), size))

    def after(self, v: int, size: int) -> list[int]:
        """Up to ``size`` matches with record number > v."""
        return list(itertools.islice(self.iter_from(v + 1), size))


def _merge(a: Iterator[int], b: list[int]) -> Iterator[int]:
    j = 0
    nb = len(b)
    for x in a:
        while j < nb and b[j] < x:
            yield b[j]
            j += 1
        yield x
    yield from b[j:]


# --- one object of one company -----------------------------------------------------------------


@dataclass(frozen=True)
class Renderer:
    """A precomputed XML template for records of one object with a given field list."""

    template: str
    fields: tuple[str, ...]
    xml_fns: tuple[Callable[[int], str], ...]


def _field_tree(fields: Sequence[str]) -> dict[str, Any]:
    # Dotted fields become nested elements, grouped under their first segment.
    tree: dict[str, Any] = {}
    for name in fields:
        node = tree
        segments = name.split(".")
        for seg in segments[:-1]:
            node = node.setdefault(seg, {})
        node[segments[-1]] = name
    return tree


def _build_template(
    tag: str, fields: Sequence[str], nested: bool, consts: dict[str, str]
) -> tuple[str, tuple[str, ...]]:
    """A ``%``-template for one record and the fields its ``%s`` slots take, in order.
    Fields in ``consts`` are written inline."""
    parts = [f"<{tag}>"]
    slots: list[str] = []

    def leaf(element: str, name: str) -> None:
        text = consts.get(name)
        if text is None:
            parts.append(f"<{element}>%s</{element}>")
            slots.append(name)
        else:
            parts.append(f"<{element}>{text.replace('%', '%%')}</{element}>")

    if not nested:
        for name in fields:
            leaf(name, name)
    else:

        def emit(node: dict[str, Any]) -> None:
            for key, child in node.items():
                if isinstance(child, str):
                    leaf(key, child)
                else:
                    parts.append(f"<{key}>")
                    emit(child)
                    parts.append(f"</{key}>")

        emit(_field_tree(fields))
    parts.append(f"</{tag}>")
    return "".join(parts), tuple(slots)


class ObjectTable:
    """The records of one object in one company: lazy base records plus mutation overlays.

    Not thread-safe by itself; :class:`Company` serialises access.
    """

    def __init__(self, odef: ObjectDef, profile: DataProfile) -> None:
        self.overrides: dict[int, dict[str, str]] = {}
        self.deleted: set[int] = set()
        self.touched_base: set[int] = set()
        self.added: list[int] = []
        self.version = 0
        self.configure(odef, profile)
        self.next_recno = self.base_count + 1

    def configure(self, odef: ObjectDef, profile: DataProfile) -> None:
        """(Re)build generators for a new definition or profile; overlays are kept."""
        self.odef = odef
        self.profile = profile
        self.base_count = profile.count
        self.gens: dict[str, Gen] = build_generators(odef, profile)
        self.raws: dict[str, Callable[[int], str]] = {k: g.raw for k, g in self.gens.items()}
        self.wm_base = base_modified(profile)
        self._renderers: dict[tuple[tuple[str, ...], str, bool], Renderer] = {}
        self._residues: OrderedDict[tuple[Node, bool], tuple[list[int], array[int]]] = OrderedDict()
        self._scans: OrderedDict[tuple[Node, bool, int, int], array[int]] = OrderedDict()
        self._preds: dict[tuple[Node, bool], Callable[[Callable[[str], str]], bool]] = {}
        self._ordered: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()
        self.version += 1
        if hasattr(self, "next_recno"):
            self.next_recno = max(self.next_recno, self.base_count + 1)

    # values

    def alive(self, n: int) -> bool:
        """Whether record ``n`` exists."""
        if n in self.deleted:
            return False
        if 1 <= n <= self.base_count:
            return True
        i = bisect.bisect_left(self.added, n)
        return i < len(self.added) and self.added[i] == n

    def value(self, n: int, field_name: str) -> str:
        """The raw current value of ``field_name`` (canonical) for record ``n``."""
        ov = self.overrides.get(n)
        if ov is not None:
            v = ov.get(field_name)
            if v is not None:
                return v
        return self.raws[field_name](n)

    def getter(self, n: int) -> Callable[[str], str]:
        """``get(field)`` for record ``n``'s current values (what predicates read)."""
        return lambda f: self.value(n, f)

    def count(self) -> int:
        """How many records exist."""
        return self.base_count - len(self.touched_base & self.deleted) + len(self.added)

    def record(self, n: int, fields: Iterable[str] | None = None) -> dict[str, str]:
        """Record ``n`` as ``{field: raw value}``."""
        names = fields if fields is not None else [f.name for f in self.odef.fields]
        return {name: self.value(n, name) for name in names}

    # predicates

    def predicate(self, node: Node, ci: bool) -> Callable[[Callable[[str], str]], bool]:
        """The compiled predicate (cached)."""
        key = (node, ci)
        pred = self._preds.get(key)
        if pred is None:
            pred = compile_predicate(node, self.odef, ci)
            if len(self._preds) > 256:
                self._preds.clear()
            self._preds[key] = pred
        return pred

    def matches(self, node: Node, ci: bool = False) -> MatchSet:
        """Every current record matching ``node`` (canonical field names), ascending."""
        base = self._base_set(node, ci)
        excluded = sorted(n for n in self.touched_base if base.contains(n))
        pred = self.predicate(node, ci)
        candidates = [n for n in self.touched_base if n not in self.deleted]
        candidates.extend(n for n in self.added if n not in self.deleted)
        extra = sorted(n for n in candidates if pred(self.getter(n)))
        return MatchSet(base, excluded, extra)

    def ordered(self, node: Node, ci: bool, order: Sequence[tuple[str, bool]]) -> Sequence[int]:
        """Every match sorted by ``order`` (field, descending) then record number (cached per
        data version; this one scans, unlike record-number order)."""
        key = (self.version, node, ci, tuple(order))
        cached = self._ordered.get(key)
        if cached is not None:
            return cached
        recnos = list(self.matches(node, ci).iter_from(0))
        for field_name, descending in reversed(order):
            fdef = self.odef.field(field_name)
            if fdef is None:
                continue
            recnos.sort(key=self._sort_key(fdef.name, sort_key_fn(fdef, ci)), reverse=descending)
        packed = array("q", recnos)
        self._ordered[key] = packed
        while len(self._ordered) > 2:
            self._ordered.popitem(last=False)
        return packed

    def _sort_key(self, name: str, key: Callable[[str], Any]) -> Callable[[int], Any]:
        value = self.value
        return lambda n: key(value(n, name))

    def _base_set(self, node: Node, ci: bool) -> BaseSet:
        count = self.base_count
        if count <= 0:
            return ArraySet([])
        lo, hi, points, residual = self._extract(node, ci)
        lo, hi = max(lo, 1), min(hi, count)
        raws = self.raws
        if points is not None:
            pred = self.predicate(residual, ci)
            return ArraySet(
                [n for n in sorted(points) if lo <= n <= hi and pred(_base_getter(raws, n))]
            )
        if hi < lo:
            return ArraySet([])
        if isinstance(residual, TrueNode):
            return ResidueSet(lo, hi, range(PERIOD), range(PERIOD + 1))
        if hi - lo < SCAN_LIMIT:
            pred = self.predicate(residual, ci)
            return ArraySet([n for n in range(lo, hi + 1) if pred(_base_getter(raws, n))])
        if self._periodic(residual):
            residues, prefix = self._residue_table(residual, ci)
            return ResidueSet(lo, hi, residues, prefix)
        key = (residual, ci, lo, hi)
        found = self._scans.get(key)
        if found is None:
            pred = self.predicate(residual, ci)
            found = array("q", (n for n in range(lo, hi + 1) if pred(_base_getter(raws, n))))
            self._scans[key] = found
            while len(self._scans) > 2:
                self._scans.popitem(last=False)
        return ArraySet(found)

    def _residue_table(self, node: Node, ci: bool) -> tuple[list[int], array[int]]:
        key = (node, ci)
        found = self._residues.get(key)
        if found is None:
            pred = self.predicate(node, ci)
            raws = self.raws
            residues = [r for r in range(PERIOD) if pred(_base_getter(raws, r + PERIOD))]
            allowed = bytearray(PERIOD)
            for r in residues:
                allowed[r] = 1
            prefix = array("l", [0]) * (PERIOD + 1)
            total = 0
            for r in range(PERIOD):
                prefix[r] = total
                total += allowed[r]
            prefix[PERIOD] = total
            found = (residues, prefix)
            self._residues[key] = found
            while len(self._residues) > 32:
                self._residues.popitem(last=False)
        return found

    def _periodic(self, node: Node) -> bool:
        if isinstance(node, (TrueNode, HoleCheck)):
            return True
        if isinstance(node, (And, Or)):
            return all(self._periodic(i) for i in node.items)
        if isinstance(node, Not):
            return self._periodic(node.item)
        name = getattr(node, "field", "")
        if isinstance(node, IsNull) and name == self.odef.modified_field:
            return True
        gen = self.gens.get(name)
        return gen is not None and gen.periodic

    def _extract(self, node: Node, ci: bool) -> tuple[int, int, set[int] | None, Node]:
        """Split top-level conjuncts into a record-number interval / point set and the rest."""
        lo, hi = 1, max(self.base_count, 0)
        points: set[int] | None = None
        rest: list[Node] = []
        items = node.items if isinstance(node, And) else (node,)
        odef = self.odef
        for item in items:
            field_name = getattr(item, "field", None)
            if field_name == odef.key_field:
                got = _key_constraint(item)
                if got is not None:
                    klo, khi, kpoints = got
                    lo, hi = max(lo, klo), min(hi, khi)
                    if kpoints is not None:
                        points = kpoints if points is None else points & kpoints
                    continue
            elif (
                field_name == odef.id_field
                and odef.id_format is not None
                and not ci
                and not isinstance(item, Not)
            ):
                ids = _id_values(item)
                if ids is not None:
                    fmt = odef.id_format
                    found = {n for n in (fmt.parse(v) for v in ids) if n is not None}
                    points = found if points is None else points & found
                    rest.append(item)
                    continue
            elif field_name == odef.modified_field:
                bounds = self._time_bounds(item)
                if bounds is not None:
                    lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
                    rest.append(HoleCheck(negate=True))
                    continue
            # "changed since": a lower bound on WHENCREATED (never after the base WHENMODIFIED)
            # or on either of them, as partial syncs ask, narrows the interval; the condition
            # itself is still evaluated on each record inside it.
            since = self._since_bound(item)
            if since is not None:
                lo = max(lo, since)
            rest.append(item)
        residual: Node
        if not rest:
            residual = TrueNode()
        elif len(rest) == 1:
            residual = rest[0]
        else:
            residual = And(tuple(rest))
        return lo, hi, points, residual

    def _since_bound(self, item: Node) -> int | None:
        """The first record number that can match ``item`` when it only admits records modified
        or created after some time (``>``/``>=``/``BETWEEN`` on WHENMODIFIED or WHENCREATED, or
        an ``OR`` of such); ``None`` otherwise. Base WHENCREATED never exceeds the base
        WHENMODIFIED, so both bound the record number through WHENMODIFIED's monotony."""
        odef = self.odef
        if isinstance(item, Or):
            firsts = [self._since_bound(i) for i in item.items]
            known = [b for b in firsts if b is not None]
            return min(known) if known and len(known) == len(firsts) else None
        if getattr(item, "field", None) not in (odef.modified_field, odef.created_field):
            return None
        if isinstance(item, Between):
            lower = Cmp(odef.modified_field, ">=", item.low)
        elif isinstance(item, Cmp) and item.op in (">", ">="):
            lower = Cmp(odef.modified_field, item.op, item.value)
        else:
            return None
        bounds = self._time_bounds(lower)
        return None if bounds is None else bounds[0]

    def _time_bounds(self, item: Node) -> tuple[int, int] | None:
        count = self.base_count
        wm = self.wm_base

        def first_where(pred: Callable[[int], bool]) -> int:
            a, b = 1, count + 1
            while a < b:
                mid = (a + b) // 2
                if pred(wm(mid)):
                    b = mid
                else:
                    a = mid + 1
            return a

        if isinstance(item, Between):
            t1, t2 = parse_timestamp(item.low), parse_timestamp(item.high)
            if t1 is None or t2 is None:
                return None
            return first_where(lambda w: w >= t1), first_where(lambda w: w > t2) - 1
        if not isinstance(item, Cmp):
            return None
        t = parse_timestamp(item.value)
        if t is None:
            return None
        if item.op == ">":
            return first_where(lambda w: w > t), count
        if item.op == ">=":
            return first_where(lambda w: w >= t), count
        if item.op == "<":
            return 1, first_where(lambda w: w >= t) - 1
        if item.op == "<=":
            return 1, first_where(lambda w: w > t) - 1
        if item.op == "=":
            return first_where(lambda w: w >= t), first_where(lambda w: w > t) - 1
        return None

    # rendering

    def renderer(self, fields: tuple[str, ...], tag: str, nested: bool) -> Renderer:
        """The (cached) template for records with these canonical fields."""
        key = (fields, tag, nested)
        found = self._renderers.get(key)
        if found is None:
            odef = self.odef
            mutable = {odef.name_field, odef.status_field, odef.created_field, odef.modified_field}
            consts = {
                name: text
                for name in fields
                if (text := self.gens[name].const) is not None and name not in mutable
            }
            template, slots = _build_template(tag, fields, nested, consts)
            found = Renderer(template, slots, tuple(self.gens[f].xml for f in slots))
            self._renderers[key] = found
        return found

    def render(self, recnos: Sequence[int], fields: tuple[str, ...], tag: str, nested: bool) -> str:
        """The XML of these records (one ``<tag>`` element each)."""
        if not recnos:
            return ""
        r = self.renderer(fields, tag, nested)
        if not r.fields:
            return (r.template % ()) * len(recnos)
        cols = [list(map(fn, recnos)) for fn in r.xml_fns]
        overrides = self.overrides
        if overrides:
            for i, n in enumerate(recnos):
                ov = overrides.get(n)
                if ov:
                    for j, name in enumerate(r.fields):
                        v = ov.get(name)
                        if v is not None:
                            cols[j][i] = escape_text(v)
        template = r.template
        return "".join([template % row for row in zip(*cols, strict=True)])

    # mutation

    def mutate(
        self, rng: random.Random, adds: int, changes: int, deletes: int, now: int
    ) -> dict[str, list[int]]:
        """Add, change and delete records; returns the record numbers touched per kind."""
        odef = self.odef
        stamp = format_timestamp(now)
        wm, wc = odef.modified_field, odef.created_field
        changed: list[int] = []
        removed: list[int] = []
        added: list[int] = []
        for _ in range(changes):
            n = self._pick_alive(rng)
            if n is None:
                break
            ov = self.overrides.setdefault(n, {})
            ov[wm] = stamp
            status = odef.status_field
            if status and rng.random() < 0.35:
                current = self.value(n, status)
                ov[status] = "inactive" if current == "active" else "active"
            elif odef.name_field != odef.id_field and odef.name_field != odef.key_field:
                base = self.raws[odef.name_field](n)
                ov[odef.name_field] = f"{base} (rev {self.version + 1})"
            if n <= self.base_count:
                self.touched_base.add(n)
            changed.append(n)
        for _ in range(deletes):
            n = self._pick_alive(rng)
            if n is None:
                break
            self.deleted.add(n)
            if n <= self.base_count:
                self.touched_base.add(n)
            else:
                i = bisect.bisect_left(self.added, n)
                if i < len(self.added) and self.added[i] == n:
                    del self.added[i]
            removed.append(n)
        for _ in range(adds):
            n = self.next_recno
            self.next_recno += 1
            self.added.append(n)
            self.overrides[n] = {wc: stamp, wm: stamp}
            added.append(n)
        self.version += 1
        return {"added": added, "changed": changed, "deleted": removed}

    def _pick_alive(self, rng: random.Random) -> int | None:
        top = self.next_recno - 1
        if top < 1 or self.count() <= 0:
            return None
        for _ in range(64):
            n = rng.randint(1, top)
            if self.alive(n):
                return n
        alive = [n for n in range(1, min(top, 10_000) + 1) if self.alive(n)]
        return rng.choice(alive) if alive else None

    def snapshot(self) -> dict[int, str]:
        """``{recordno: whenmodified}`` for every current record."""
        wm = self.odef.modified_field
        raw = self.raws[wm]
        deleted, overrides = self.deleted, self.overrides
        out: dict[int, str] = {}
        for n in range(1, self.base_count + 1):
            if n in deleted:
                continue
            ov = overrides.get(n)
            out[n] = ov[wm] if ov and wm in ov else raw(n)
        for n in self.added:
            if n not in deleted:
                out[n] = self.value(n, wm)
        return out


def _base_getter(raws: dict[str, Callable[[int], str]], n: int) -> Callable[[str], str]:
    return lambda f: raws[f](n)


def _key_constraint(item: Node) -> tuple[int, int, set[int] | None] | None:
    big = 1 << 62
    try:
        if isinstance(item, Cmp):
            v = int(item.value)
            return {
                "=": (v, v, {v}),
                "<": (1, v - 1, None),
                "<=": (1, v, None),
                ">": (v + 1, big, None),
                ">=": (v, big, None),
            }.get(item.op)
        if isinstance(item, Between):
            return int(item.low), int(item.high), None
        if isinstance(item, In) and not item.negate:
            values = {int(v) for v in item.values}
            return 1, big, values
    except ValueError:
        return None
    return None


def _id_values(item: Node) -> list[str] | None:
    if isinstance(item, Cmp) and item.op == "=":
        return [item.value]
    if isinstance(item, In) and not item.negate:
        return list(item.values)
    return None


# --- sessions and cursors ----------------------------------------------------------------------


@dataclass
class Session:
    """An API session: bound to a company, a user and an entity (empty = top level)."""

    session_id: str
    company_id: str
    user_id: str
    location_id: str
    created: float
    expires: float


@dataclass
class Cursor:
    """A ``readByQuery`` result kept for ``readMore``: predicate, fields, position."""

    result_id: str
    company_id: str
    object_name: str
    table_name: str
    node: Node
    fields: tuple[str, ...]
    nested: bool
    pagesize: int
    last: int
    totalcount: int
    served: int
    expires: float
    session_id: str = ""


def new_session_id() -> str:
    """A session id shaped like the gateway's (``…..`` ending in two dots)."""
    return secrets.token_urlsafe(24) + ".."


def new_result_id() -> str:
    """A resultId shaped like the gateway's (digits, a letter, a base64-ish tail)."""
    digits = "".join(secrets.choice("0123456789") for _ in range(10))
    return f"{digits}{secrets.choice('VW')}{secrets.token_urlsafe(18)[:24]}"


# --- companies ---------------------------------------------------------------------------------

_ROW_OF_OBJECT: dict[str, PermissionRow] = {
    obj: row for row in PERMISSION_ROWS for obj in row.objects
}


#: The longest a fault plan may delay an answer (ten minutes; a far longer sleep overflows).
MAX_LATENCY_MS = 600_000


@dataclass(frozen=True)
class FaultPlan:
    """The faults a company's gateway requests meet, decided by each request's place among the
    company's requests (1 = the first), so a run meets the same faults every time.

    - ``errors_every`` / ``errors_burst``: the last ``errors_burst`` requests of every
      ``errors_every`` get an HTML HTTP 503 (a burst of server errors; a retry lands in it too);
    - ``rate_limit_every`` / ``rate_limit_storm``: the same shape of HTTP 429 GW-0010 answers (a
      storm), with ``Retry-After: retry_after`` when that is set;
    - ``session_every``: every that many requests, the session a request used expires after it
      (the next request with it gets "Invalid session");
    - ``reset_every``: every that many requests, the connection is reset without an answer (over
      real HTTP; in process, an HTTP 599);
    - ``offline_every`` / ``offline_burst``: the same shape, counted in functions rather than
      requests: those functions fail in their own results (HTTP 200, the others of the request
      run), "The Service is Temporarily Off-line" (where a real company says so: inside a
      result, as FYLE handles it; its errorno is unverified);
    - ``latency_ms``: this company's answers take that much longer.
    """

    errors_every: int = 0
    errors_burst: int = 1
    rate_limit_every: int = 0
    rate_limit_storm: int = 1
    retry_after: int | None = None
    session_every: int = 0
    reset_every: int = 0
    offline_every: int = 0
    offline_burst: int = 1
    latency_ms: float = 0.0

    @classmethod
    def of(cls, data: dict[str, Any]) -> FaultPlan:
        """A plan from a JSON object of these fields; ``ValueError`` names an unknown or
        negative one."""
        known = {f.name for f in cls.__dataclass_fields__.values()}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            number = (
                float(value) if name == "latency_ms" else (None if value is None else int(value))
            )
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{name} must be a finite number")
            if number is not None and number < 0:
                raise ValueError(f"{name} must not be negative")
            if name == "latency_ms" and number is not None and number > MAX_LATENCY_MS:
                raise ValueError(f"latency_ms must be at most {MAX_LATENCY_MS:,} (10 minutes)")
            values[name] = number
        return cls(**values)

    @staticmethod
    def _in_burst(number: int, every: int, burst: int) -> bool:
        return every > 0 and (number - 1) % every >= every - min(burst, every)

    def server_error(self, number: int) -> bool:
        return self._in_burst(number, self.errors_every, self.errors_burst)

    def rate_limited(self, number: int) -> bool:
        return self._in_burst(number, self.rate_limit_every, self.rate_limit_storm)

    def expires_session(self, number: int) -> bool:
        return self.session_every > 0 and number % self.session_every == 0

    def offline(self, number: int) -> bool:
        return self._in_burst(number, self.offline_every, self.offline_burst)

    def resets(self, number: int) -> bool:
        return self.reset_every > 0 and number % self.reset_every == 0


NO_FAULTS = FaultPlan()


@dataclass
class MutationSummary:
    """What one mutation did to one object."""

    added: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)


class Company:
    """One emulated Intacct company: its scenario, users and every object's records."""

    def __init__(
        self, company_id: str, scenario: Scenario, records: int = DEFAULT_RECORDS, *, seed: int = 0
    ) -> None:
        self.company_id = company_id
        self.initial_scenario = scenario
        self.scenario = scenario
        self.records = records
        self.seed = seed
        self.sender_id = SANDBOX_SENDER_ID
        self.user_id = SANDBOX_USER_ID
        self.user_password = SANDBOX_USER_PASSWORD
        self.lock = threading.RLock()
        self.tables: dict[str, ObjectTable] = {}
        self.request_count = 0
        self.in_flight = 0
        #: Functions this company ran (each a billed API transaction in Intacct), and of those
        #: the ones that failed.
        self.functions_run = 0
        self.functions_failed = 0
        #: This company's own concurrent-request limit (``None``: the sandbox's
        #: ``max_concurrent``), counted over every connection to it; and how many requests it
        #: refused with 429 for being over it, and the most it had in flight at once.
        self.max_concurrent: int | None = None
        #: Faults its requests meet (``/sandbox/companies/<id>/faults``).
        self.faults = NO_FAULTS
        #: Intacct locks a user after a number of failed sign-ins in a row (a company setting):
        #: 0 never locks. A locked user is refused with the same words as a wrong password
        #: (what a real locked user is answered is unverified), its right password included,
        #: until :meth:`reset`; a sign-in that succeeds starts the count again.
        self.lockout_after = 0
        #: How a request with a session the company no longer knows is answered: the classic
        #: "Invalid session" at authentication level (False), or as the current gateway answers
        #: wrong credentials, HTTP 401 XMLGW_JPP0002 at control level (True; the official SDKs
        #: test that answer with a session request; which one a real company gives is
        #: unverified).
        self.expired_session_http_401 = False
        self.failed_sign_ins = 0
        self.user_locked = False
        self.refused_busy = 0
        self.peak_in_flight = 0
        self.rng = random.Random(f"{seed}:{company_id}")
        self._mutations = 0
        #: The audit trail (``AUDITHISTORY`` rows, oldest first): one per record a mutation
        #: added, changed or deleted, worded as the scenario says.
        self.audit: list[dict[str, str]] = []

    def __repr__(self) -> str:
        return f"Company({self.company_id!r}, scenario={self.scenario.name!r})"

    # objects

    def object_def(self, name: str) -> ObjectDef | None:
        """The object called ``name`` (case-insensitive) as this company defines it, or None.

        Standard objects always exist (a subscription check is separate); ``APBILL`` carries the
        scenario's custom field; user-defined dimensions exist only when the scenario has them
        and subscribes to Platform Services.
        """
        upper = name.strip().upper()
        if upper == "APBILL":
            return apbill_object(self.scenario.custom_field)
        found = STANDARD_OBJECTS.get(upper)
        if found is not None:
            return found
        if "Platform Services" in self.scenario.modules:
            for udd in self.scenario.udds:
                if udd.object_name.upper() == upper:
                    return udd_object(udd)
        return None

    def object_names(self) -> list[str]:
        """Every object this company answers for (standard, APBILL, its dimensions)."""
        names = [*STANDARD_OBJECTS, "APBILL"]
        if "Platform Services" in self.scenario.modules:
            names += [u.object_name for u in self.scenario.udds]
        return names

    def list_object_names(self) -> list[str]:
        """The objects :meth:`mutate` touches by default: catalog list objects and dimensions."""
        names = [n for n in catalog.LIST_OBJECTS if n in STANDARD_OBJECTS and n != "LOCATIONENTITY"]
        if "Platform Services" in self.scenario.modules:
            names += [u.object_name for u in self.scenario.udds]
        return names

    def permission_row(self, object_name: str) -> PermissionRow | None:
        """The permission-table row whose read proves access to the object."""
        odef = self.object_def(object_name)
        if odef is not None and odef.user_defined:
            return next(r for r in PERMISSION_ROWS if r.key == UDD_ROW_KEY)
        return _ROW_OF_OBJECT.get(object_name.upper())

    def subscribed(self, object_name: str) -> bool:
        """Whether the company subscribes to the application the object belongs to."""
        row = self.permission_row(object_name)
        if row is None or row.only_when is None or row.only_when == "Multi-entity":
            return True
        return row.only_when in self.scenario.modules

    def permitted(self, object_name: str) -> bool:
        """Whether the web services user's role may read the object."""
        row = self.permission_row(object_name)
        if row is None:
            return self.scenario.role_assigned
        return self.scenario.row_granted(row.key)

    def _profile(self, odef: ObjectDef) -> DataProfile:
        entities = self.scenario.entities
        if odef.entity_records:
            return DataProfile(len(entities), entities)
        return DataProfile(self.records, entities)

    def table(self, name: str) -> ObjectTable | None:
        """The records of object ``name`` (created on first use), or None if no such object."""
        odef = self.object_def(name)
        if odef is None:
            return None
        with self.lock:
            table = self.tables.get(odef.name)
            if table is None:
                table = ObjectTable(odef, self._profile(odef))
                self.tables[odef.name] = table
            elif table.odef != odef:
                table.configure(odef, self._profile(odef))
            return table

    def set_scenario(self, scenario: Scenario) -> None:
        """Switch the scenario; records (and their mutations) are kept."""
        with self.lock:
            self.scenario = scenario
            self.request_count = 0
            for name, table in self.tables.items():
                odef = self.object_def(name)
                if odef is not None:
                    profile = self._profile(odef)
                    if odef != table.odef or profile != table.profile:
                        table.configure(odef, profile)

    # data

    def count(self, object_name: str) -> int:
        """How many records of the object exist (every entity, every status)."""
        table = self.table(object_name)
        if table is None:
            raise KeyError(object_name)
        with self.lock:
            return table.count()

    def snapshot(self, object_name: str) -> dict[int, str]:
        """The exact current set ``{recordno: whenmodified}`` of the object (all entities)."""
        table = self.table(object_name)
        if table is None:
            raise KeyError(object_name)
        with self.lock:
            return table.snapshot()

    def mutate(
        self,
        adds: int = 0,
        changes: int = 0,
        deletes: int = 0,
        objects: Sequence[str] | None = None,
        seed: int | None = None,
        audited: bool = True,
    ) -> dict[str, MutationSummary]:
        """Add, change (new WHENMODIFIED; new name or toggled status) and delete records of each
        object (default: every list object and dimension).  Returns what happened per object.

        Each touched record gets an audit-trail row, unless ``audited`` is False (a real audit
        trail can miss events: an object without audit trails, a bulk import)."""
        names = list(objects) if objects is not None else self.list_object_names()
        out: dict[str, MutationSummary] = {}
        with self.lock:
            self._mutations += 1
            rng = random.Random(seed) if seed is not None else self.rng
            now = max(int(time.time()), DATA_END + 86400)
            for name in names:
                table = self.table(name)
                if table is None:
                    raise KeyError(name)
                done = table.mutate(rng, adds, changes, deletes, now)
                summary = MutationSummary(done["added"], done["changed"], done["deleted"])
                out[table.odef.name] = summary
                if audited:
                    self._audit(table, summary, format_timestamp(now))
        return out

    def _audit(self, table: ObjectTable, summary: MutationSummary, stamp: str) -> None:
        odef, scenario = table.odef, self.scenario
        created, modified, deleted = scenario.audit_modes
        object_type = odef.name.upper() if scenario.audit_type_upper else odef.name.lower()
        by_id = scenario.audit_key.upper() == "ID"
        for mode, recnos in (
            (created, summary.added),
            (modified, summary.changed),
            (deleted, summary.deleted),
        ):
            for n in recnos:
                key = table.value(n, odef.id_field) if by_id else table.value(n, odef.key_field)
                self.audit.append(
                    {
                        "OBJECTTYPE": object_type,
                        "OBJECTKEY": key,
                        "OBJECTDESC": table.value(n, odef.name_field),
                        "USERID": "Admin",
                        "ACCESSTIME": stamp,
                        "ACCESSMODE": mode,
                        "SOURCE": "ui",
                        "WORKFLOWACTION": "",
                    }
                )

    def reset(self) -> None:
        """Back to the initial scenario and untouched records."""
        with self.lock:
            self.scenario = self.initial_scenario
            self.tables.clear()
            self.request_count = 0
            self.functions_run = self.functions_failed = 0
            self.max_concurrent = None
            self.refused_busy = self.peak_in_flight = 0
            self.faults = NO_FAULTS
            self.lockout_after = self.failed_sign_ins = 0
            self.user_locked = False
            self.rng = random.Random(f"{self.seed}:{self.company_id}")
            self.audit.clear()

    def sign_in(self, user_id: str, password: str) -> bool:
        """Whether the user signs in with ``password``, counting failures toward a lockout."""
        with self.lock:
            if user_id.lower() != self.user_id.lower():
                return False
            if not self.user_locked and password == self.user_password:
                self.failed_sign_ins = 0
                return True
            self.failed_sign_ins += 1
            if self.lockout_after and self.failed_sign_ins >= self.lockout_after:
                self.user_locked = True
            return False

    def visibility(self, odef: ObjectDef, location_id: str, showprivate: bool) -> Node | None:
        """The condition limiting what a session sees in a multi-entity company.

        Top level without ``showprivate``: shared records only; top level with it: everything;
        an entity session: its own records and shared ones.
        """
        if not self.scenario.multi_entity or not odef.has_megaentity:
            return None
        if location_id:
            return Or((IsNull("MEGAENTITYID"), Cmp("MEGAENTITYID", "=", location_id)))
        if showprivate:
            return None
        return IsNull("MEGAENTITYID")

    def entity(self, entity_id: str) -> bool:
        """Whether ``entity_id`` names one of the company's entities."""
        return any(e.entity_id.upper() == entity_id.upper() for e in self.scenario.entities)

    def summary(self) -> dict[str, Any]:
        """Health-endpoint view: ID, scenario, description, record counts."""
        with self.lock:
            counts = {}
            for name in self.object_names():
                table = self.table(name)
                if table is not None:
                    counts[table.odef.name] = table.count()
        return {
            "company_id": self.company_id,
            "scenario": self.scenario.name,
            "description": self.scenario.description,
            "records": counts,
        }


# --- the sandbox -------------------------------------------------------------------------------


class Sandbox:
    """Every emulated company plus the gateway's sessions and cursors, and the server knobs.

    ``records``: records per list object; ``latency_ms``: added to every gateway answer;
    ``fault_rate``: fraction of gateway requests answered with a non-XML HTTP 502/503;
    ``max_concurrent``: requests one company may have in flight (0 = unlimited; excess get
    HTTP 429 GW-0010); ``session_ttl``: seconds a session lives after its last use; ``faults``:
    the :class:`FaultPlan` of every company (each can be given its own).
    """

    def __init__(
        self,
        records: int = DEFAULT_RECORDS,
        *,
        scenario: str = DEFAULT_SCENARIO,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        max_concurrent: int = 0,
        session_ttl: float = DEFAULT_SESSION_TTL,
        seed: int = 0,
        support_ids: bool = True,
        scenarios: Iterable[str] | None = None,
        faults: FaultPlan = NO_FAULTS,
    ) -> None:
        self.records = records
        #: The faults every company meets unless given its own.
        self.faults = faults
        self.default_scenario = get_scenario(scenario).name
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.max_concurrent = max_concurrent
        self.session_ttl = session_ttl
        self.seed = seed
        self.support_ids = support_ids
        self.sender_id = SANDBOX_SENDER_ID
        self.sender_password = SANDBOX_SENDER_PASSWORD
        self.rng = random.Random(seed)
        self._lock = threading.RLock()
        self._companies: dict[str, Company] = {}
        self._sessions: dict[str, Session] = {}
        self._dropped: dict[str, str] = {}
        self._cursors: dict[str, Cursor] = {}
        self._mutator: tuple[threading.Thread, threading.Event] | None = None
        names = list(scenarios) if scenarios is not None else list(SCENARIOS)
        for name in names:
            sc = get_scenario(name)
            self.add_company(sc.company_id, sc.name)
        self.add_company("sandbox", self.default_scenario)

    def __repr__(self) -> str:
        return f"Sandbox(companies={len(self._companies)}, records={self.records})"

    # companies

    def add_company(
        self, company_id: str, scenario: str = DEFAULT_SCENARIO, records: int | None = None
    ) -> Company:
        """Create (or replace) a company following ``scenario``."""
        company = Company(
            company_id,
            get_scenario(scenario),
            self.records if records is None else records,
            seed=self.seed,
        )
        company.faults = self.faults
        with self._lock:
            self._companies[company_id.lower()] = company
        return company

    def company(self, company_id: str) -> Company:
        """The company with this ID (case-insensitive); ``KeyError`` if none."""
        with self._lock:
            return self._companies[company_id.strip().lower()]

    def find_company(self, company_id: str) -> Company | None:
        """The company with this ID, or None."""
        with self._lock:
            return self._companies.get(company_id.strip().lower())

    @property
    def companies(self) -> list[Company]:
        """Every company, in creation order."""
        with self._lock:
            return list(self._companies.values())

    def set_scenario(self, company_id: str, name: str) -> Company:
        """Switch a company's scenario at runtime, keeping its records."""
        company = self.company(company_id)
        company.set_scenario(get_scenario(name))
        return company

    def reset(self) -> None:
        """Every company back to its initial scenario and records; sessions and cursors gone."""
        with self._lock:
            for company in self._companies.values():
                company.reset()
                company.faults = self.faults
            self._sessions.clear()
            self._dropped.clear()
            self._cursors.clear()
            self.rng = random.Random(self.seed)

    # sessions

    def create_session(self, company: Company, user_id: str, location_id: str) -> Session:
        """A new API session."""
        now = time.time()
        session = Session(
            new_session_id(), company.company_id, user_id, location_id, now, now + self.session_ttl
        )
        with self._lock:
            self._sessions[session.session_id] = session
            if len(self._sessions) > 50_000:
                self._expire(now)
        return session

    def use_session(self, session_id: str) -> Session | None:
        """The live session with this id, its expiry slid forward; None if unknown or expired."""
        now = time.time()
        with self._lock:
            session = self._sessions.get(session_id.strip())
            if session is None:
                return None
            if session.expires <= now:
                del self._sessions[session.session_id]
                return None
            session.expires = now + self.session_ttl
            return session

    def peek_session(self, session_id: str) -> Session | None:
        """The session with this id without extending it (None if unknown or expired)."""
        with self._lock:
            session = self._sessions.get(session_id.strip())
        if session is None or session.expires <= time.time():
            return None
        return session

    def drop_session(self, session_id: str) -> None:
        """Invalidate a session (its next use answers "Invalid session")."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is not None:
                # Its company still counts the requests that come with it.
                self._dropped[session_id] = session.company_id
                while len(self._dropped) > 10_000:
                    self._dropped.pop(next(iter(self._dropped)))

    def company_of_dropped_session(self, session_id: str) -> str | None:
        """The company ID of a session that was dropped (recently), else None."""
        with self._lock:
            return self._dropped.get(session_id.strip())

    def _expire(self, now: float) -> None:
        for sid in [s for s, v in self._sessions.items() if v.expires <= now]:
            del self._sessions[sid]
        for cid in [c for c, v in self._cursors.items() if v.expires <= now]:
            del self._cursors[cid]

    # cursors

    def add_cursor(self, cursor: Cursor) -> None:
        """Keep a readByQuery result for readMore."""
        with self._lock:
            self._cursors[cursor.result_id] = cursor
            if len(self._cursors) > 10_000:
                self._expire(time.time())

    def cursor(self, result_id: str) -> Cursor | None:
        """The live cursor with this resultId (its expiry slid forward), else None."""
        now = time.time()
        with self._lock:
            cursor = self._cursors.get(result_id.strip())
            if cursor is None:
                return None
            if cursor.expires <= now:
                del self._cursors[cursor.result_id]
                return None
            cursor.expires = now + RESULT_ID_TTL
            return cursor

    def latest_cursor(self, session_id: str, object_name: str) -> Cursor | None:
        """The most recent live cursor of a session on an object (``readMore`` by object)."""
        with self._lock:
            for cursor in reversed(list(self._cursors.values())):
                if cursor.session_id == session_id and cursor.object_name.upper() == (
                    object_name.upper()
                ):
                    return cursor if cursor.expires > time.time() else None
        return None

    def drop_cursor(self, result_id: str) -> None:
        """Forget a cursor (exhausted)."""
        with self._lock:
            self._cursors.pop(result_id, None)

    # background mutation

    def start_mutating(
        self, every_s: float, *, adds: int = 1, changes: int = 2, deletes: int = 1
    ) -> Callable[[], None]:
        """Mutate every company a little every ``every_s`` seconds in a background thread.
        Returns a function that stops it."""
        self.stop_mutating()
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(every_s):
                for company in self.companies:
                    company.mutate(adds=adds, changes=changes, deletes=deletes)

        thread = threading.Thread(target=run, name="sandbox-mutator", daemon=True)
        self._mutator = (thread, stop)
        thread.start()
        return self.stop_mutating

    def stop_mutating(self) -> None:
        """Stop the background mutation, if running."""
        if self._mutator is not None:
            thread, stop = self._mutator
            stop.set()
            thread.join(timeout=5)
            self._mutator = None

    # convenience

    def snapshot(self, company_id: str, object_name: str) -> dict[int, str]:
        """``company(company_id).snapshot(object_name)``."""
        return self.company(company_id).snapshot(object_name)
