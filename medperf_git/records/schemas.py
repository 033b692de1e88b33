"""The JSON Schemas of every record kind, loaded once from package data.

Validation errors are turned into short sentences naming the field, for people who have never
read a JSON Schema.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

KINDS = ("registry", "person", "container", "benchmark", "dataset", "association", "result")
_EXTRA = ("common", "container_config")


@dataclass(frozen=True)
class SchemaProblem:
    """One schema violation: where (a key path into the document) and what, in plain words."""

    path: tuple[str | int, ...]
    message: str

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path) or "(document)"


@functools.cache
def schema_text(name: str) -> str:
    return resources.files("medperf_git.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")


@functools.cache
def _registry():
    from referencing import Registry, Resource

    loaded = [json.loads(schema_text(name)) for name in KINDS + _EXTRA]
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in loaded)


@functools.cache
def validator(kind: str):
    """The validator of one kind, built on first use (the schemas themselves are checked by the tests)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_text(kind)), registry=_registry())


def _shown(value: Any) -> str:
    """A value as a message quotes it: JSON, cut short (a refused value may be long, or private)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _custom(error) -> str | None:
    """The schema's own words for this failure (``errorMessage``, as ajv-errors spells it), if it has any.

    ``{value}`` is the refused value and ``{count}`` its size: published numbers need messages that
    say what the registry holds, which jsonschema's generic ones ("is too long") do not.
    """
    messages = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if not isinstance(messages, dict) or error.validator not in messages:
        return None
    count = len(error.instance) if isinstance(error.instance, (list, dict, str)) else 0
    return messages[error.validator].replace("{value}", _shown(error.instance)).replace("{count}", str(count))


def _describe(error) -> str:
    """Plain-language message for one jsonschema error."""
    custom = _custom(error)
    if custom:
        return custom
    v = error.validator
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        names = ", ".join(f"'{e}'" for e in extra)
        return f"unknown field{'s' if len(extra) > 1 else ''} {names}"
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing required field '{missing}'"
    if v == "pattern":
        hint = error.schema.get("description")
        return f"{json.dumps(error.instance)} has the wrong form" + (f" ({hint})" if hint else "")
    if v == "enum":
        return f"{json.dumps(error.instance)} is not one of " + ", ".join(json.dumps(e) for e in error.validator_value)
    if v == "const":
        return f"must be {json.dumps(error.validator_value)}, not {json.dumps(error.instance)}"
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"must be of type {expected}, not {type(error.instance).__name__}"
    if v in ("anyOf", "oneOf") and error.context:
        best = min(error.context, key=lambda e: len(list(e.relative_path)))
        if error.validator == "anyOf" and all(e.validator == "required" for e in error.context):
            options = " or ".join(f"'{e.message.split(chr(39))[1]}'" for e in error.context)
            return f"needs at least one of {options}"
        return _describe(best)
    if v == "uniqueItems":
        return "has duplicate entries"
    if v in ("minItems", "minLength", "minProperties"):
        return "must not be empty" if error.validator_value == 1 else error.message
    if v in ("maxLength", "maxItems", "maximum", "minimum"):
        return error.message.replace(repr(error.instance), "value") if len(repr(error.instance)) > 60 else error.message
    return error.message if len(error.message) < 200 else error.message[:200] + "..."


def _path(error) -> tuple[str | int, ...]:
    """Where the error is; a bad mapping key is named itself, so that its own line is reported."""
    path = tuple(error.absolute_path)
    if "propertyNames" in error.schema_path and isinstance(error.instance, (str, int, float)):
        path += (error.instance if isinstance(error.instance, str) else str(error.instance),)
    return path


def validate(kind: str, data: Any) -> list[SchemaProblem]:
    """All schema problems of ``data`` as a record of ``kind``, in document order."""
    return _problems(validator(kind), data)


@functools.cache
def _definition_validator(name: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"urn:medperf-git:schema:common#/$defs/{name}"}, registry=_registry())


def validate_definition(name: str, data: Any) -> list[SchemaProblem]:
    """Problems of ``data`` against one shared definition (``common``'s ``$defs/<name>``), for checks before
    publishing that must say exactly what the registry's lint would say."""
    return _problems(_definition_validator(name), data)


def _problems(checker, data: Any) -> list[SchemaProblem]:
    problems = []
    for error in checker.iter_errors(data):
        path = _path(error)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            problems.append(SchemaProblem(path, _describe(error)) if not missing
                            else SchemaProblem(path, f"missing required field '{missing}'"))
        else:
            problems.append(SchemaProblem(path, _describe(error)))
    return sorted(problems, key=lambda p: [str(x) for x in p.path])
