"""Loading rulesets (../shared/contracts/ruleset.md) and choosing which one governs a period.

A ruleset is a TOML file, data never code. `load_ruleset` reads one file (or TOML text),
parses every TOML float as a Decimal exactly as written (0.015 is 0.015, not
0.01499999...), converts it into `schemas.ruleset.Ruleset` and identifies it by its id
and the sha256 of its bytes. A file that does not fit the contract raises
`RulesetError` naming the file, the line, the key and what was expected:

    rulesets/x.toml line 22: incentive.tiered.tiers[1].rate: expected a decimal, got "abc"

`RulesetSet` is the live set (the `*.toml` files of a folder): the newest ruleset's
definitions and timezone apply to every period; each period's incentive plan is that of
the newest ruleset whose `effective_from` is not after the period (before the earliest,
the earliest). A replay uses one file for both: `RulesetSet.single(loaded)`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from schemas.ruleset import Definitions, Incentive, Ruleset

__all__ = [
    "LoadedRuleset",
    "RulesetError",
    "RulesetSet",
    "load_ruleset",
]


class RulesetError(ValueError):
    """A ruleset that does not fit the contract. `str()` is one line for a person."""

    def __init__(
        self, source: str, reason: str, *, line: int | None = None, key: str | None = None
    ):
        self.source = source
        self.line = line
        self.key = key
        self.reason = reason
        where = source if line is None else f"{source} line {line}"
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


@dataclass(frozen=True)
class LoadedRuleset:
    ruleset: Ruleset
    hash: str  # "sha256:" + hex digest of the file's bytes
    text: str
    path: str | None  # the file it came from; None when loaded from text

    @property
    def id(self) -> str:
        return self.ruleset.id

    @property
    def effective_from(self) -> str:
        return self.ruleset.effective_from

    @property
    def incentive(self) -> Incentive:
        return self.ruleset.incentive

    @property
    def ref(self) -> dict[str, str]:
        """`{"id": …, "hash": …}` as the JSON outputs and events name a ruleset."""
        return {"id": self.ruleset.id, "hash": self.hash}


# --- loading one ruleset --------------------------------------------------------------


def content_hash(raw: bytes) -> str:
    """A ruleset's hash as events and outputs name it: "sha256:" + hex digest of its bytes."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def load_ruleset(source: str | bytes, *, name: str | None = None, path: str | None = None) -> LoadedRuleset:
    """Load one ruleset from its text (or the file's bytes): pure, never reads a file.

    A `ruleset.applied` event's TOML comes through here too, so nothing an event holds
    can make the fold open a file. Files are read by services/project/rulesets.py. `name` is
    how errors name the source (default: `path`, else "ruleset").
    """
    label = name or path or "ruleset"
    raw = source if isinstance(source, bytes) else source.encode("utf-8")
    digest = content_hash(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RulesetError(label, "expected UTF-8 text", line=line) from None
    ruleset = parse_ruleset(text, name=label)
    return LoadedRuleset(ruleset=ruleset, hash=digest, text=text, path=path)


def parse_ruleset(text: str, *, name: str = "ruleset") -> Ruleset:
    """TOML text -> Ruleset, or RulesetError with line, key and what was expected."""
    body = text[1:] if text.startswith("\ufeff") else text
    try:
        data = tomllib.loads(body, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(name, body, exc) from None
    try:
        ruleset = msgspec.convert(data, Ruleset, strict=False)
    except msgspec.ValidationError as exc:
        raise _validation_error(name, body, data, exc) from None
    _check_values(name, body, ruleset)
    return ruleset


_TOML_AT = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_AT_EOF = re.compile(r"^(?P<msg>.*?) \(at end of document\)$")
_HEADER = re.compile(r"^\s*\[\[?\s*(?P<key>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"""^\s*(?P<key>[A-Za-z0-9_\-."' ]+?)\s*=""")


def _syntax_error(name: str, text: str, exc: tomllib.TOMLDecodeError) -> RulesetError:
    message = str(exc)
    line: int | None = None
    m = _TOML_AT.match(message)
    if m:
        line = int(m["line"])
        message = f"{m['msg']} (column {m['col']})"
    else:
        m = _TOML_AT_EOF.match(message)
        if m:
            line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
            message = f"{m['msg']} (at end of file)"
    key = None
    if line is not None:
        lines = text.splitlines()
        table = ""
        last_key = ""  # the last key assigned in the current table (a multi-line value)
        for raw in lines[: line - 1]:
            h = _HEADER.match(raw)
            if h and not raw.lstrip().startswith("#"):
                table = _plain_key(h["key"])
                last_key = ""
                continue
            a = _ASSIGN.match(raw)
            if a and not raw[:1].isspace():
                last_key = _plain_key(a["key"])
        here = lines[line - 1] if 0 < line <= len(lines) else ""
        h = _HEADER.match(here)
        a = _ASSIGN.match(here)
        if a:
            key = ".".join(k for k in (table, _plain_key(a["key"])) if k)
        elif h:
            key = _plain_key(h["key"])
        elif here.lstrip().startswith("["):
            key = _plain_key(here.strip().strip("[]").split("#")[0].strip()) or None
        elif last_key or table:
            key = ".".join(k for k in (table, last_key) if k)
    message = message[:1].lower() + message[1:]
    return RulesetError(name, f"invalid TOML: {message}", line=line, key=key)


def _plain_key(dotted: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in dotted.split("."))


# --- turning msgspec's errors into line, key and expectation --------------------------

_PATH_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_EXPECTED_GOT = re.compile(r"^Expected `(?P<want>[^`]+)`(?P<rest>.*?)(, got `(?P<got>[^`]+)`)?$")
_FIELD_MARK = re.compile(r"^\[field:(?P<field>.+?)\] (?P<reason>.*)$")
_TYPE_WORDS = {
    "decimal": "a decimal",
    "int": "a whole number",
    "str": "a string",
    "bool": "true or false",
    "object": "a table",
    "array": "an array",
    "float": "a number",
}
_KNOWN_PATTERNS = {  # msgspec's pattern -> the words a person reads
    r"^\d{4}-(0[1-9]|1[0-2])$": "a month like 2026-01",
    r"^(?:20[0-9]{2}|2100)-(0[1-9]|1[0-2])$": "a month like 2026-01, in the years 2000-2100",
}


def _split_path(path: str) -> list[str | int]:
    out: list[str | int] = []
    for m in _PATH_TOKEN.finditer(path[1:] if path.startswith("$") else path):
        if m[1] is not None:
            out.append(m[1])
        elif m[2] == "...":
            out.append("...")
        else:
            out.append(int(m[2]))
    return out


def _split_field(field: str) -> list[str | int]:
    return _split_path("." + field)


def _key_text(segments: Sequence[str | int]) -> str:
    out = ""
    for s in segments:
        if isinstance(s, int):
            out += f"[{s}]"
        else:
            bare = re.fullmatch(r"[A-Za-z0-9_-]+", s) is not None
            part = s if bare else json.dumps(s, ensure_ascii=False)
            out += f".{part}" if out else part
    return out


def _value_at(data: Any, segments: Sequence[str | int]) -> tuple[bool, Any]:
    cur = data
    for s in segments:
        if isinstance(s, int) and isinstance(cur, list) and 0 <= s < len(cur):
            cur = cur[s]
        elif isinstance(s, str) and isinstance(cur, dict) and s in cur:
            cur = cur[s]
        else:
            return False, None
    return True, cur


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _type_at(segments: Sequence[str | int]) -> msgspec.inspect.Type | None:
    """The schema's type at a path (for listing the keys a table accepts)."""
    t: msgspec.inspect.Type = msgspec.inspect.type_info(Ruleset)
    for s in segments:
        t = _unwrap(t)
        if isinstance(t, msgspec.inspect.StructType) and isinstance(s, str):
            found = [f for f in t.fields if f.encode_name == s]
            if not found:
                return None
            t = found[0].type
        elif isinstance(t, msgspec.inspect.ListType) and isinstance(s, int):
            t = t.item_type
        elif isinstance(t, msgspec.inspect.DictType):
            t = t.value_type
        else:
            return None
    return _unwrap(t)


def _unwrap(t: msgspec.inspect.Type) -> msgspec.inspect.Type:
    if isinstance(t, msgspec.inspect.UnionType):
        real = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
        if len(real) == 1:
            return real[0]
    return t


def _words(want: str, rest: str) -> str:
    if want.startswith("str") and "matching regex" in rest:
        pattern = rest.split("matching regex", 1)[1].strip().strip("'")
        pattern = pattern.replace("\\\\", "\\")
        return _KNOWN_PATTERNS.get(pattern, f"a string matching {pattern}")
    kinds = [k.strip() for k in want.split("|") if k.strip() != "null"]
    text = " or ".join(_TYPE_WORDS.get(k, k) for k in kinds) or want
    rest = rest.strip()
    if rest.startswith("of length"):
        bound = rest[len("of length") :].strip()
        if bound == ">= 1":
            return f"{text} with at least one entry"
        return f"{text} with length {bound}"
    if rest:
        return f"{text} {rest}"
    return text


def _validation_error(
    name: str, text: str, data: Any, exc: msgspec.ValidationError
) -> RulesetError:
    message = str(exc)
    path = "$"
    if " - at `" in message:
        message, _, rest = message.rpartition(" - at `")
        path = rest.rstrip("`")
    segments = _split_path(path)
    reason = message
    marked = _FIELD_MARK.match(message)
    if marked:
        segments = segments + _split_field(marked["field"])
        reason = (
            f"expected {marked['reason']}"
            if not marked["reason"].startswith("must")
            else marked["reason"]
        )
        found, value = _value_at(data, segments)
        if found:
            reason += f", got {_show(value)}"
    elif message.startswith("Object missing required field `"):
        field = message.split("`")[1]
        segments = segments + [field]
        t = _type_at(segments)
        want = _describe(t)
        reason = f"missing: expected {want}" if want else "missing"
    elif message.startswith("Object contains unknown field `"):
        field = message.split("`")[1]
        t = _type_at(segments)
        segments = segments + [field]
        reason = "unknown key"
        if isinstance(t, msgspec.inspect.StructType):
            allowed = [f.encode_name for f in t.fields]
            close = difflib.get_close_matches(field, allowed, n=1)
            if close:
                reason += f" (did you mean `{close[0]}`?)"
            reason += "; expected one of: " + ", ".join(allowed)
    else:
        if segments and segments[-1] == "...":
            # A dict value (product_rates): find which key holds the bad value.
            found, table = _value_at(data, segments[:-1])
            segments = segments[:-1]
            if found and isinstance(table, dict):
                for k, v in table.items():
                    try:
                        msgspec.convert(v, Decimal, strict=False)
                    except msgspec.ValidationError:
                        segments = segments + [k]
                        break
        found, value = _value_at(data, segments)
        m = _EXPECTED_GOT.match(message)
        if m:
            reason = f"expected {_words(m['want'], m['rest'])}"
        elif message.startswith("Invalid decimal string"):
            reason = "expected a decimal"
        elif message.startswith("Invalid enum value"):
            t = _type_at(segments)
            choices = getattr(t, "values", None)
            if choices:
                reason = "expected one of " + ", ".join(json.dumps(c) for c in choices)
            else:
                reason = "expected one of the allowed values"
        if found:
            reason += f", got {_show(value)}"
    return RulesetError(
        name, reason, line=_line_of(text, segments), key=_key_text(segments) or None
    )


_INSPECT_WORDS = (  # msgspec.inspect types, as a reader would name them
    (msgspec.inspect.DecimalType, "a decimal"),
    (msgspec.inspect.IntType, "a whole number"),
    (msgspec.inspect.StrType, "a string"),
    (msgspec.inspect.BoolType, "true or false"),
    (msgspec.inspect.StructType, "a table"),
    (msgspec.inspect.ListType, "an array"),
)


def _describe(t: msgspec.inspect.Type | None) -> str:
    if t is None:
        return ""
    if isinstance(t, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(json.dumps(v) for v in t.values)
    return next((words for kind, words in _INSPECT_WORDS if isinstance(t, kind)), "a value")


def _check_values(name: str, text: str, ruleset: Ruleset) -> None:
    """Checks the Structs cannot express: finite decimals and a known timezone."""

    def walk(obj: Any, segments: list[str | int]) -> None:
        if isinstance(obj, Decimal):
            if not obj.is_finite():
                raise RulesetError(
                    name,
                    f"expected a finite decimal, got {obj}",
                    line=_line_of(text, segments),
                    key=_key_text(segments),
                )
        elif isinstance(obj, msgspec.Struct):
            info = msgspec.inspect.type_info(type(obj))
            for f in info.fields:  # type: ignore[union-attr]
                walk(getattr(obj, f.name), segments + [f.encode_name])
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                walk(item, segments + [i])
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, segments + [k])

    walk(ruleset, [])
    try:
        ZoneInfo(ruleset.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RulesetError(
            name,
            f'expected an IANA timezone such as "Asia/Shanghai", got {json.dumps(ruleset.timezone)} (unknown timezone)',
            line=_line_of(text, ["timezone"]),
            key="timezone",
        ) from None


# --- where a key is written: a small scanner over valid TOML --------------------------


def _line_of(text: str, segments: Sequence[str | int]) -> int:
    """The line on which the deepest written prefix of `segments` appears (1 if none)."""
    positions = _key_lines(text)
    for n in range(len(segments), 0, -1):
        line = positions.get(tuple(segments[:n]))
        if line is not None:
            return line
    return 1


class _Scanner:
    """Records, for every table, key and array element of a (valid) TOML document, the
    line it starts on. Only structure is read; values are skipped with their strings."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.line = 1
        self.positions: dict[tuple[str | int, ...], int] = {}
        self.aot: dict[tuple[str | int, ...], int] = {}  # array of tables -> last index

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.i < len(self.s):
                if self.s[self.i] == "\n":
                    self.line += 1
                self.i += 1

    def record(self, path: tuple[str | int, ...], line: int) -> None:
        self.positions.setdefault(path, line)

    def skip_inline_ws(self) -> None:
        while self.peek() in (" ", "\t"):
            self.advance()

    def skip_comment(self) -> None:
        if self.peek() == "#":
            while self.peek() not in ("\n", ""):
                self.advance()

    def skip_ws_newlines_comments(self) -> None:
        while True:
            c = self.peek()
            if c in (" ", "\t", "\r", "\n"):
                self.advance()
            elif c == "#":
                self.skip_comment()
            else:
                return

    def skip_line(self) -> None:
        while self.peek() not in ("\n", ""):
            self.advance()
        self.advance()

    def string(self) -> str:
        q = self.peek()
        if self.s.startswith(q * 3, self.i):
            self.advance(3)
            out = []
            while self.i < len(self.s) and not self.s.startswith(q * 3, self.i):
                if q == '"' and self.peek() == "\\":
                    out.append(self.peek(1))
                    self.advance(2)
                    continue
                out.append(self.peek())
                self.advance()
            self.advance(3)
            while self.peek() == q:  # up to two quotes may end a multi-line string
                self.advance()
            return "".join(out)
        self.advance()
        start = self.i
        while self.peek() not in (q, "", "\n"):
            if q == '"' and self.peek() == "\\":
                self.advance(2)
                continue
            self.advance()
        raw = self.s[start : self.i]
        self.advance()
        if q == '"':
            try:
                return json.loads('"' + raw + '"')
            except ValueError:
                return raw
        return raw

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_inline_ws()
            c = self.peek()
            if c in ('"', "'"):
                parts.append(self.string())
            else:
                start = self.i
                while self.peek() and (self.peek().isalnum() or self.peek() in "_-"):
                    self.advance()
                parts.append(self.s[start : self.i])
            self.skip_inline_ws()
            if self.peek() == ".":
                self.advance()
                continue
            return parts

    def value(self, path: tuple[str | int, ...]) -> None:
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c == "[":
            self.advance()
            index = 0
            while True:
                self.skip_ws_newlines_comments()
                if self.peek() in ("]", ""):
                    self.advance()
                    return
                self.record(path + (index,), self.line)
                self.value(path + (index,))
                index += 1
                self.skip_ws_newlines_comments()
                if self.peek() == ",":
                    self.advance()
        elif c == "{":
            self.advance()
            while True:
                self.skip_inline_ws()
                if self.peek() in ("}", "", "\n"):
                    self.advance()
                    return
                line = self.line
                k = tuple(self.key())
                for n in range(1, len(k) + 1):
                    self.record(path + k[:n], line)
                if self.peek() == "=":
                    self.advance()
                self.skip_inline_ws()
                self.value(path + k)
                self.skip_inline_ws()
                if self.peek() == ",":
                    self.advance()
        else:
            while self.peek() not in (",", "]", "}", "\n", "#", ""):
                self.advance()

    def resolve(self, keys: Sequence[str]) -> tuple[str | int, ...]:
        """A header's keys with the current index of every array of tables on the way."""
        out: tuple[str | int, ...] = ()
        for k in keys:
            out = out + (k,)
            if out in self.aot:
                out = out + (self.aot[out],)
        return out

    def run(self) -> dict[tuple[str | int, ...], int]:
        table: tuple[str | int, ...] = ()
        while self.i < len(self.s):
            self.skip_ws_newlines_comments()
            if self.i >= len(self.s):
                break
            line = self.line
            if self.s.startswith("[[", self.i):
                self.advance(2)
                keys = self.key()
                parent = self.resolve(keys[:-1]) + (keys[-1],)
                self.aot[parent] = self.aot.get(parent, -1) + 1
                table = parent + (self.aot[parent],)
                self.record(parent, line)
                self.record(table, line)
                self.skip_line()
            elif self.peek() == "[":
                self.advance()
                keys = self.key()
                table = self.resolve(keys)
                self.record(table, line)
                self.skip_line()
            else:
                k = tuple(self.key())
                for n in range(1, len(k) + 1):
                    self.record(table + k[:n], line)
                self.skip_inline_ws()
                if self.peek() == "=":
                    self.advance()
                    self.skip_inline_ws()
                    self.value(table + k)
                    self.skip_inline_ws()
                    self.skip_comment()
                else:
                    self.skip_line()
        return self.positions


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    try:
        return _Scanner(text).run()
    except Exception:  # the scanner only helps to name a line; never hide the real error
        return {}


# --- the live set ---------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def _last_month(period: str) -> str:
    """The last month of a period: `2026-08` -> itself, `2026-Q3` -> `2026-09`, `2026` -> `2026-12`."""
    if _MONTH.match(period):
        return period
    m = _QUARTER.match(period)
    if m:
        return f"{m[1]}-{int(m[2]) * 3:02d}"
    m = _YEAR.match(period)
    if m:
        return f"{m[1]}-12"
    raise ValueError(f"not a period: {period!r} (expected e.g. 2026-08, 2026-Q3 or 2026)")


class RulesetSet:
    """The rulesets in force: definitions from the newest, plans effective-dated."""

    def __init__(self, loaded: Sequence[LoadedRuleset]):
        if not loaded:
            raise RulesetError("rulesets", "no ruleset: at least one is needed")
        by_id: dict[str, LoadedRuleset] = {}
        for r in loaded:
            other = by_id.get(r.id)
            if other is not None:
                where = " and ".join(x.path or "<text>" for x in (other, r))
                same = " (identical files)" if other.hash == r.hash else ""
                raise RulesetError(
                    r.path or "rulesets",
                    f"two rulesets have the id {json.dumps(r.id)}{same}: {where}; give each its own id or remove one",
                    key="id",
                )
            by_id[r.id] = r
        self._by_id = by_id
        # oldest first; ties by id
        self.loaded: tuple[LoadedRuleset, ...] = tuple(
            sorted(loaded, key=lambda r: (r.effective_from, r.id))
        )

    @classmethod
    def single(cls, loaded: LoadedRuleset) -> RulesetSet:
        """A replay: one file governs both definitions and every period's plan."""
        return cls([loaded])

    def __iter__(self) -> Iterator[LoadedRuleset]:
        return iter(self.loaded)

    def __len__(self) -> int:
        return len(self.loaded)

    def __repr__(self) -> str:
        return f"RulesetSet({[r.id for r in self.loaded]!r})"

    def get(self, ruleset_id: str) -> LoadedRuleset | None:
        return self._by_id.get(ruleset_id)

    @property
    def newest(self) -> LoadedRuleset:
        return self.loaded[-1]

    @property
    def definitions(self) -> Definitions:
        return self.newest.ruleset.definitions

    @cached_property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.newest.ruleset.timezone)

    def plan_for(self, period: str) -> LoadedRuleset:
        """The ruleset whose plan governs `period` (a month; a quarter or year is judged by
        its last month): the newest whose effective_from is not after it, else the earliest."""
        last = _last_month(period)
        chosen = self.loaded[0]
        for r in self.loaded:
            if r.effective_from <= last:
                chosen = r
        return chosen

    def incentive_for(self, period: str) -> Incentive:
        return self.plan_for(period).ruleset.incentive

    @cached_property
    def fingerprint(self) -> str:
        """A hash over the set (ids and content hashes): changes whenever any file does."""
        h = hashlib.sha256()
        for r in sorted(self.loaded, key=lambda r: r.id):
            h.update(f"{r.id}\0{r.hash}\n".encode())
        return "sha256:" + h.hexdigest()
