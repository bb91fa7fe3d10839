"""Check a JSON value against the subset of JSON Schema iamd's OpenAPI files use.

Enough for ``iamd/web/openapi/authorize.json``: ``type`` (one or several), ``$ref`` to
``#/components/schemas/*``, ``required``, ``properties``, ``additionalProperties`` (false or a
schema), ``propertyNames``, ``maxProperties``, ``items``, ``maxItems``, ``minLength``,
``maxLength``, ``pattern``, ``enum`` and ``oneOf`` of alternatives told apart by their type.
The OpenAPI file is the only statement of the limits: what the API refuses is what it documents.

A value of the wrong JSON type is a ``SerializationException`` (as AWS's JSON protocols answer);
a value of the right type that breaks a limit is a ``ValidationException``.  Both name the field
(``request.headers.host``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from iamd.core.errors import SerializationException, ValidationException

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


class SchemaChecker:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self._schemas: Mapping[str, Any] = document.get("components", {}).get("schemas", {})

    def check(self, value: Any, schema_name: str) -> None:
        self._check(value, self._schemas[schema_name], "")

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._resolve(self._schemas[ref.rsplit("/", 1)[-1]])
        return schema

    def _check(self, value: Any, schema: Mapping[str, Any], where: str) -> None:
        schema = self._resolve(schema)
        alternatives = schema.get("oneOf")
        if alternatives and "type" not in schema and "properties" not in schema:
            for alternative in alternatives:
                resolved = self._resolve(alternative)
                if _is_type(value, resolved.get("type")):
                    self._check(value, resolved, where)
                    return
            wanted = " or ".join(_type_words(self._resolve(a).get("type")) for a in alternatives)
            raise SerializationException(f"{_name(where)} must be {wanted}")
        if "type" in schema and not _is_type(value, schema["type"]):
            raise SerializationException(f"{_name(where)} must be {_type_words(schema['type'])}")
        if "enum" in schema and value not in schema["enum"]:
            raise ValidationException(f"{_name(where)} must be one of {', '.join(map(str, schema['enum']))}")
        if isinstance(value, str):
            self._string(value, schema, where)
        elif isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                raise ValidationException(f"{_name(where)} has more than {schema['maxItems']} items")
            items = schema.get("items")
            if items is not None:
                for index, item in enumerate(value):
                    self._check(item, items, f"{where}[{index}]")
        elif isinstance(value, dict):
            self._object(value, schema, where)

    def _string(self, value: str, schema: Mapping[str, Any], where: str) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ValidationException(f"{_name(where)} must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValidationException(f"{_name(where)} must be at most {schema['maxLength']} characters long")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            raise ValidationException(f"{_name(where)} does not match the pattern {schema['pattern']}")

    def _object(self, value: dict[str, Any], schema: Mapping[str, Any], where: str) -> None:
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            raise ValidationException(f"{_name(where)} has more than {schema['maxProperties']} members")
        for key in schema.get("required", ()):
            if key not in value:
                raise ValidationException(f"{_name(_join(where, key))} is required")
        properties: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        names = schema.get("propertyNames")
        for key, item in value.items():
            if names is not None:
                self._string(key, names, f"{_join(where, key)} (the name)")
            if key in properties:
                self._check(item, properties[key], _join(where, key))
            elif extra is False:
                raise ValidationException(f"{_name(where) if where else 'the body'} has no member called {key}")
            elif isinstance(extra, Mapping):
                self._check(item, extra, _join(where, key))


def _is_type(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return True
    kinds = wanted if isinstance(wanted, list) else [wanted]
    for kind in kinds:
        if kind in ("integer", "number") and isinstance(value, bool):
            continue
        if isinstance(value, _TYPES[kind]):
            return True
    return False


def _type_words(wanted: Any) -> str:
    kinds = wanted if isinstance(wanted, list) else [wanted]
    return " or ".join(("an " if k in ("object", "array", "integer") else "a ") + str(k) for k in kinds)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _name(where: str) -> str:
    return where or "the body"
