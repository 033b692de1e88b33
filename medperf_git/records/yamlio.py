"""YAML in and out, safely and fast.

Records are parsed with libyaml when it is present. Parsing refuses what a registry record never
needs and what would hurt a reader: duplicate keys (silently dropped by plain PyYAML), aliases
(the "billion laughs"), non-UTF-8 bytes and oversized files. Line numbers are recovered only when
an error must be reported, so the common, valid case stays fast.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from medperf_git.errors import RecordInvalid

try:
    from yaml import CSafeDumper as _BaseDumper, CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import (
        SafeDumper as _BaseDumper,  # type: ignore[assignment]
        SafeLoader as _BaseLoader,  # type: ignore[assignment]
    )

MAX_YAML_BYTES = 1024 * 1024  # a record is a few KiB; anything this large is a mistake


class YamlError(RecordInvalid):
    """A file is not valid YAML for a record; carries the position for ``path:line:col`` output."""

    def __init__(self, source: str, message: str, line: int = 1, col: int = 1, code: str = "YAML"):
        super().__init__(f"{source}:{line}:{col} {message}")
        self.source = source
        self.reason = message
        self.line = line
        self.col = col
        self.code = code


class _Loader(_BaseLoader):
    """Safe loader that refuses duplicate keys and keeps dates as plain strings."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark) from None
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Timestamps stay strings: records compare and re-serialise them byte for byte.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)


class _Dumper(_BaseDumper):
    pass


def _represent_str(dumper: _Dumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def _decode(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        return data
    if len(data) > MAX_YAML_BYTES:
        raise YamlError(source, f"file is {len(data):,} bytes; records are limited to "
                                f"{MAX_YAML_BYTES:,} bytes", code="SIZE")
    if b"\x00" in data:
        raise YamlError(source, "file is binary (it contains NUL bytes), not YAML", code="ENCODING")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlError(source, "file is not valid UTF-8", line, col, code="ENCODING") from None


def _check_no_aliases(text: str, source: str) -> None:
    if "&" not in text and "*" not in text:
        return
    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                raise YamlError(source, "anchors and aliases (&, *) are not allowed in records",
                                mark.line + 1, mark.column + 1)
    except yaml.YAMLError:
        return  # the loader reports the syntax error with its position


def load_yaml(data: bytes | str, source: str = "<input>", *, allow_aliases: bool = False) -> Any:
    """Parse one YAML document; every problem becomes a :class:`YamlError` with a position."""
    text = _decode(data, source)
    if len(text) > MAX_YAML_BYTES:
        raise YamlError(source, f"file is larger than {MAX_YAML_BYTES:,} bytes", code="SIZE")
    if not allow_aliases:
        _check_no_aliases(text, source)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(source, f"invalid YAML: {problem}", line, col) from None
    except yaml.YAMLError as exc:
        raise YamlError(source, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError(source, "invalid YAML: nested too deeply") from None


# A faster load for the plain YAML records are (reads of many records: index, lint, policy)

_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _Unusual(Exception):
    """The document needs the full loader (merge keys, duplicates, odd tags): let it decide."""


def load_record(raw: bytes, source: str) -> Any:
    """Exactly what ``load_yaml`` returns, about twice as fast for the plain YAML that records are.

    Strings, lists and mappings are built straight from libyaml's nodes; any other scalar goes
    through the safe constructor, and anything unusual (or any error) goes to ``load_yaml`` itself,
    which gives the same value or the same positioned error.
    """
    known = _PARSED.get(raw) if isinstance(raw, bytes) else None
    if known is not None:
        return _copy(known)  # the caller may change its copy
    text = _decode(raw, source)  # the same size, NUL and UTF-8 checks
    if "&" in text or "*" in text:
        return load_yaml(raw, source)  # it refuses anchors and aliases with a position
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        value = None if node is None else _build(node, loader)
    except Exception:  # noqa: BLE001 - the full loader reports it properly
        return load_yaml(raw, source)
    finally:
        loader.dispose()
    if isinstance(raw, bytes) and value is not None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[raw] = value
        return _copy(value)
    return value


# The same record bytes are parsed again and again in one command (the policy judges a submission when it
# is opened and when it is merged, lint reads both sides): a successful parse is kept, by content.
_PARSED: dict[bytes, Any] = {}
_PARSED_MAX = 20_000


def _copy(value: Any) -> Any:
    """A copy of parsed YAML: its mappings and lists are new, its scalars (all immutable) shared."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    if type(value) is set:  # YAML's !!set: its members are scalars
        return set(value)
    return value


_RESOLVED: dict[str, str] = {}  # plain scalar text -> tag: records repeat their keys and values


@functools.cache
def _loader_class() -> type:
    """The records' loader with a faster resolver; it resolves exactly as the original does.

    Without path resolvers (records have none) a tag depends only on the node kind and, for a
    plain scalar, its text; so plain scalars are remembered and the path bookkeeping is skipped.
    """
    base = _Loader
    if base.yaml_path_resolvers:  # pragma: no cover - nobody adds them; then keep the original
        return base
    scalar, sequence = yaml.ScalarNode, yaml.SequenceNode

    class IndexLoader(base):
        def resolve(self, kind, value, implicit):
            if kind is scalar:
                if not implicit[0]:
                    return _STR
                tag = _RESOLVED.get(value)
                if tag is None:
                    tag = base.resolve(self, kind, value, implicit)
                    if len(_RESOLVED) < 100_000:
                        _RESOLVED[value] = tag
                return tag
            return _SEQ if kind is sequence else _MAP

        def descend_resolver(self, current_node, current_index):
            pass

        def ascend_resolver(self):
            pass

    return IndexLoader


def _build(node, loader) -> Any:
    tag = node.tag
    if node.id == "scalar":
        return node.value if tag == _STR else loader.construct_object(node, deep=True)
    if node.id == "sequence" and tag == _SEQ:
        return [_build(item, loader) for item in node.value]
    if node.id == "mapping" and tag == _MAP:
        mapping: dict = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar":
                raise _Unusual
            key = _build(key_node, loader)
            if key in mapping or key_node.tag == "tag:yaml.org,2002:merge":
                raise _Unusual
            mapping[key] = _build(value_node, loader)
        return mapping
    raise _Unusual




def load_yaml_file(path: str | Path, source: str | None = None) -> Any:
    path = Path(path)
    source = source or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise YamlError(source, f"file is {size:,} bytes; the limit is {MAX_YAML_BYTES:,}", code="SIZE")
        data = path.read_bytes()
    except OSError as exc:
        raise YamlError(source, f"cannot read file: {exc.strerror or exc}", code="IO") from None
    return load_yaml(data, source)


def locate(data: bytes | str, keys: Sequence[str | int]) -> tuple[int, int]:
    """Line and column (1-based) of the value at ``keys`` in a document; the nearest parent if absent.

    Only called to report an error, so composing the node tree again costs nothing in the
    common case.
    """
    try:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        node = yaml.compose(text, Loader=_BaseLoader)
    except yaml.YAMLError:
        return 1, 1
    if node is None:
        return 1, 1
    mark = node.start_mark
    for key in keys:
        found = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(key):
                    found = value_node
                    mark = key_node.start_mark
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = node.value[key]
            mark = found.start_mark
        if found is None:
            break
        node = found
    return mark.line + 1, mark.column + 1


def dump_yaml(data: Any) -> str:
    """Serialise in a stable, readable form: keys in the order given, block style, UTF-8."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
