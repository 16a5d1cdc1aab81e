"""Reading untrusted JSON and YAML (job files, candidate files, API bodies) with limits, so a
hostile document is one clear error instead of a traceback or gigabytes of memory.

Limits, checked before anything is built from the document: nesting at most `MAX_DEPTH`
levels; YAML aliases may add at most `MAX_ALIAS_NODES` nodes when expanded (a "billion
laughs" bomb is refused from its small node graph, never expanded) and may not refer to
their own anchor; no duplicate mapping key; numbers finite (no NaN, Infinity, .nan, .inf);
text UTF-8 without lone surrogates. Every refusal is a `DocumentError` naming the source and,
where the parser knows it, the line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable
from typing import Any

import yaml

MAX_DEPTH = 64  # a job file is about 6 deep
MAX_ALIAS_NODES = 100_000  # nodes YAML aliases may add on top of the document's own

_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|-?Infinity|NaN', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class DocumentError(ValueError):
    """A document that cannot be read safely; the message names the source and line."""

    def __init__(self, source: str, why: str, line: int | None = None) -> None:
        at = f"{source}:{line}" if line else source
        super().__init__(f"{at}: {why}")
        self.source, self.why, self.line = source, why, line


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 (a BOM is dropped); anything else names the line and byte it fails at."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DocumentError(
            source, f"not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8", line
        ) from None


# -- JSON ---------------------------------------------------------------------------------------


def load_json(text: str | bytes, source: str) -> Any:
    """JSON with the limits above; duplicate keys, NaN and Infinity are errors."""
    if isinstance(text, bytes):
        text = decode_text(text, source)

    def no_constant(name: str) -> Any:
        raise DocumentError(source, f"{name} is not a number JSON allows", _token_line(text, name))

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    raise DocumentError(source, f"duplicate key {key!r} in one object")
                seen.add(key)
        return out

    def finite(literal: str) -> float:
        number = float(literal)
        if not math.isfinite(number):  # 1e400
            raise DocumentError(source, f"{literal:.40} is too large a number", None)
        return number

    try:
        data = json.loads(
            text, parse_constant=no_constant, parse_float=finite, object_pairs_hook=pairs
        )
    except RecursionError:
        raise _too_deep_json(text, source) from None
    except json.JSONDecodeError as e:
        raise DocumentError(
            source, f"not valid JSON: {e.msg} (column {e.colno})", e.lineno
        ) from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        if isinstance(e, DocumentError):
            raise
        raise DocumentError(source, f"not valid JSON: {str(e).split(';')[0]}") from None
    if _depth(data) > MAX_DEPTH:
        raise _too_deep_json(text, source)
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(data, source)
    return data


def _token_line(text: str, token: str) -> int | None:
    for m in _JSON_TOKENS.finditer(text):
        if m.group() == token:
            return text.count("\n", 0, m.start()) + 1
    return None


def _too_deep_json(text: str, source: str) -> DocumentError:
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                return DocumentError(source, f"nested deeper than {MAX_DEPTH} levels", line)
        elif tok in "]}":
            depth -= 1
    return DocumentError(source, f"nested deeper than {MAX_DEPTH} levels")


def _depth(data: Any) -> int:
    """Nesting depth without recursion (a deep document must not exhaust the stack)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _check_strings(data: Any, source: str) -> None:
    """A lone surrogate (`"\\ud800"`) is valid JSON but no text a store can encode."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise DocumentError(source, "a string holds a lone UTF-16 surrogate (\\ud800)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# -- YAML ---------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts depth while composing and checks keys, floats and strings while
    constructing."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.depth = 0

    def fail(self, why: str, mark: yaml.Mark | None) -> DocumentError:
        return DocumentError(self.source, why, mark.line + 1 if mark is not None else None)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            if self.depth >= MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise self.fail(f"nested deeper than {MAX_DEPTH} levels", mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` overrides on purpose
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # the base constructor names it
                if key in first:
                    raise self.fail(
                        f"duplicate key {key!r} (first at line {first[key]})", key_node.start_mark
                    )
                first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise self.fail(f"{node.value!r} is not a finite number", node.start_mark)
        return value

    def construct_yaml_str(self, node: yaml.ScalarNode) -> str:
        value = super().construct_yaml_str(node)
        if _SURROGATE.search(value):
            raise self.fail("a string holds a lone UTF-16 surrogate", node.start_mark)
        return value


_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_constructor("tag:yaml.org,2002:str", _Loader.construct_yaml_str)


def load_yaml(text: str | bytes, source: str) -> tuple[Any, yaml.Node | None]:
    """(data, node graph); the node graph gives callers the line of each field. The limits
    are checked on the node graph, before any object is built."""
    if isinstance(text, bytes):
        text = decode_text(text, source)
    try:
        loader = _Loader(text, source)  # the reader checks every character here
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        why = f"character {chr(e.character)!r} is not allowed in YAML"
        raise DocumentError(source, why, line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node, source)
        return loader.construct_document(node), node
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        line = mark.line + 1 if mark is not None else None
        raise DocumentError(source, f"not valid YAML: {problem}", line) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Nodes and depth the document would have with every alias expanded, computed on its
    node graph (a shared node is visited once, counted once per use): a bomb is refused
    without being expanded."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key, children = id(node), _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            is_collection = not isinstance(node, yaml.ScalarNode)
            depth[key] = is_collection + max((depth[id(c)] for c in children), default=0)
            if depth[key] > MAX_DEPTH:
                line = node.start_mark.line + 1
                raise DocumentError(source, f"aliases nest it deeper than {MAX_DEPTH} levels", line)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                why = "an alias refers to its own anchor (a recursive document)"
                raise DocumentError(source, why, child.start_mark.line + 1)
            if id(child) not in size:
                stack.append((child, False))
    extra = size[id(root)] - len(size)
    if extra > MAX_ALIAS_NODES:
        raise DocumentError(
            source,
            f"aliases (*name) expand it by {extra:,} nodes, more than {MAX_ALIAS_NODES:,} "
            "(a YAML alias bomb?)",
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
