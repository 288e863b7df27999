"""A request model's validation error in the API's own words: what the field must be, what came.

pydantic words its errors for Python programmers ("field 'threshold.constrained-float':
Input should be less than or equal to 1", "valid dictionary or instance of TagItem"). The
API says instead what the field must be, phrased from the same JSON schema the OpenAPI
document publishes, so the two cannot drift: "threshold must be a number between 0 and 1,
or an object of label -> number between 0 and 1; got 1.5".
"""

from __future__ import annotations

import functools
import json

from pydantic import BaseModel, ValidationError

_MISSING = object()


def describe(exc: ValidationError, model: type[BaseModel], data, where: str = "") -> str:
    """One sentence for the first problem of *exc*, raised validating *data* against *model*.

    *where* prefixes the field's name (``"query parameter "``).
    """
    errors = exc.errors()
    first = _most_specific(errors, data)
    path, value = _walk(first["loc"], data)
    name = _name(path) or "body"
    schema = _schema_at(_json_schema(model), path)
    kind = first["type"]
    if kind == "missing":
        return f"{where}{name} is required"
    if kind == "extra_forbidden":
        takes = sorted((_schema_at(_json_schema(model), path[:-1]) or {}).get("properties", ()))
        return (f"unknown {where or 'field '}{name}; "
                + (f"{_name(path[:-1])} takes" if path[:-1] else "send only")
                + f": {', '.join(takes) or 'nothing'}")
    if kind == "value_error":  # our validators word their own problem
        return f"{where}{name} {first['ctx']['error']}"
    expected = _phrase(_json_schema(model), schema) if schema else None
    if not expected:  # no schema to phrase: pydantic's own words, without its capital
        return f"{where}{name}: {first['msg'][:1].lower()}{first['msg'][1:]}"
    return f"{where}{name} must be {expected}; got {_shown(value)}"


def _most_specific(errors, data):
    """The first error, or a later one about a part of the same value (a union's other branch).

    A value that matched one branch of a union, then failed deeper in it ({"biomed": 2}
    for a threshold), is best described by that deeper error.
    """
    first = errors[0]
    path = _walk(first["loc"], data)[0]
    for other in errors[1:]:
        deeper = _walk(other["loc"], data)[0]
        if len(deeper) > len(path) and deeper[:len(path)] == path:
            return other
    return first


def _walk(loc, data):
    """(the path through *data* that *loc* names, the value there).

    *loc* mixes keys and indexes with the names pydantic gives a union's branches
    ("constrained-float", "dict[str,constrained-float]"): those are not in the data, so
    they are skipped. A missing or unknown field's name is the last part of *loc*.
    """
    path, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif i == len(loc) - 1 and isinstance(part, str) and not _branch(part):
            path.append(part)
            node = _MISSING
    return tuple(path), node


def _branch(part):
    """Whether a part of a location names a union branch rather than a field."""
    return any(c in part for c in "[]-(") or part in ("int", "float", "str", "bool", "dict", "list",
                                                       "none", "function-after")


def _name(path):
    """items[3].id: the path as a client writes it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@functools.lru_cache(maxsize=64)
def _json_schema(model):
    return model.model_json_schema()


def _schema_at(root, path):
    """The JSON schema of the value at *path* in a body that *root* describes, or None."""
    node = _resolve(root, root)
    for part in path:
        node = _child(root, node, part)
        if node is None:
            return None
    return node


def _resolve(root, node):
    while isinstance(node, dict) and "$ref" in node:
        node = root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1])
    return node


def _child(root, node, part):
    if node is None:
        return None
    if isinstance(part, int):
        if node.get("type") == "array":
            return _resolve(root, node.get("items", {}))
    elif node.get("type") == "object":
        if part in node.get("properties", {}):
            return _resolve(root, node["properties"][part])
        if (values := _map_values(node)) is not None:  # any key: a label the view checks
            return _resolve(root, values)
    for option in [*node.get("anyOf", ()), *node.get("oneOf", ())]:
        found = _child(root, _resolve(root, option), part)
        if found is not None:
            return found
    return None


def _map_values(schema):
    """The schema of every value of an object used as a map (label -> number), else None.

    A map with known keys (the labels of a threshold) has them as properties, each with
    the same schema and none with a model field's title.
    """
    if isinstance(schema.get("additionalProperties"), dict):
        return schema["additionalProperties"]
    props = list(schema.get("properties", {}).values())
    if props and all(p == props[0] and "title" not in p for p in props):
        return props[0]
    return None


def _number(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(schema, noun, whole):
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        between = ("from", "to") if whole else ("between", "and")
        return f"{noun} {between[0]} {_number(low)} {between[1]} {_number(high)}"
    if low is not None:
        return f"{noun}, {_number(low)} or more"
    if high is not None:
        return f"{noun}, at most {_number(high)}"
    return noun


def _phrase(root, schema) -> str | None:
    """What a value of *schema* (a part of *root*) is, in words: "a whole number from 1 to 100"."""
    schema = _resolve(root, schema) or {}
    options = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    if options and "type" not in schema:  # a union; a model's anyOf says which fields it needs
        phrases = [_phrase(root, s) for s in options]
        return ", or ".join(p for p in phrases if p) or None
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return "one of " + ", ".join(json.dumps(v) if not isinstance(v, str) else v for v in values)
    kind = schema.get("type")
    if kind == "integer":
        return _range(schema, "a whole number", whole=True)
    if kind == "number":
        return _range(schema, "a number", whole=False)
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        low, high = schema.get("minLength"), schema.get("maxLength")
        if high is not None:
            return f"a string of {low or 0} to {high} characters" if low else \
                f"a string of at most {high} characters"
        return "a string"
    if kind == "array":
        item = _phrase(root, schema.get("items", {})) or "anything"
        least = schema.get("minItems")
        return (f"a list of at least {least} item{'s' if least != 1 else ''}" if least else "a list") \
            + f", each {item}"
    if kind == "object":
        values = _map_values(schema)
        return (f"an object of label -> {_phrase(root, values).removeprefix('a ')}" if values
                else "an object")
    return None


def _shown(value):
    """The received value, short."""
    if value is _MISSING:
        return "nothing"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, str) and len(value) > 40:
        return f"a string of {len(value)} characters"
    return json.dumps(value, ensure_ascii=False)
