"""Check request bodies and stream events against OpenAI's published OpenAPI spec.

Why: the fake upstream (tests/upstream.py) validates requests with hand-written
rules (CHAT_COMPLETION_PARAMS, reasoning families...), which are our own reading
of OpenAI's docs; if they drift, the pipe and its tests can agree on a body that
api.openai.com rejects with a 400, or fake events the real API never sends.
These checks compare bodies and events against OpenAI's own description of the
API instead, a subset of which is vendored in tests/openapi/openai-subset.json
(see tests/openapi/README.md).

Each check returns a list of readable problems; an empty list means valid.

Needs only `jsonschema` >= 4.0, the first with Draft 2020-12 (tested with 4.0.0,
4.17.3 and 4.26.0; open-webui 0.12.4 already pulls it in via chromadb and mcp).
The spec is OpenAPI 3.1, whose schema dialect is JSON Schema 2020-12, plus a few
OpenAPI leftovers that are translated on load (see `_normalize`). `format` is
not checked: the spec uses non-standard formats such as "unixtime".
"""

import functools
import json
import pathlib

from jsonschema import Draft202012Validator

SUBSET = pathlib.Path(__file__).resolve().parent / "openapi" / "openai-subset.json"
PREFIX = "#/components/schemas/"
# Keywords whose value maps arbitrary names (not keywords) to schemas.
_NAME_MAPS = {"properties", "patternProperties", "$defs", "dependentSchemas"}
# OpenAPI annotations for code generators (besides x-*), or handled by _normalize.
_DROP = {"discriminator", "nullable", "$recursiveAnchor"}
_MAX = 240  # longest message kept: jsonschema repeats the whole instance otherwise


def _normalize(node, component: str, in_name_map: bool = False):
    """Turn the spec's OpenAPI-isms into plain JSON Schema 2020-12.

    - `nullable: true` (OpenAPI 3.0, still used ~100 times) becomes
      `anyOf: [<schema>, {type: null}]`, so a `null` is accepted as OpenAI does.
    - `oneOf` becomes `anyOf`: the spec writes unions as `oneOf` (often with a
      `discriminator`), but its branches overlap. A user message with a list
      content matches both EasyInputMessage and Item/InputMessage, so a strict
      `oneOf` would reject valid bodies. Exclusivity is not what OpenAI means.
    - `discriminator` and `x-*` keys are annotations for code generators: dropped.
    - `$recursiveRef: "#"` (JSON Schema 2019-09, unknown to 2020-12 so it would
      silently accept anything) becomes a `$ref` to the component that holds the
      `$recursiveAnchor`: CompoundFilter, whose filters nest themselves.
    """
    if isinstance(node, list):
        return [_normalize(v, component) for v in node]
    if not isinstance(node, dict):
        return node
    if in_name_map:
        return {k: _normalize(v, component) for k, v in node.items()}
    out = {}
    for key, value in node.items():
        if key.startswith("x-") or key in _DROP:
            continue
        if key == "$recursiveRef":
            assert value == "#", value
            key, value = "$ref", PREFIX + component
        elif key == "oneOf":
            assert "anyOf" not in node, "both oneOf and anyOf: translate by hand"
            key = "anyOf"
        out[key] = _normalize(value, component, key in _NAME_MAPS)
    if node.get("nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _spec() -> dict:
    """The vendored subset, normalized, as one JSON Schema document."""
    subset = json.loads(SUBSET.read_text())
    schemas = subset["components"]["schemas"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-roots": subset["x-roots"],
        "components": {"schemas": {n: _normalize(s, n) for n, s in schemas.items()}},
    }


def _resolve(schema: dict) -> dict:
    """Follow local `$ref`s (only `#/components/schemas/...` exist in the subset)."""
    while "$ref" in schema:
        schema = _spec()["components"]["schemas"][schema["$ref"].removeprefix(PREFIX)]
    return schema


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    """A validator for one component, resolving `$ref`s inside the same document."""
    return Draft202012Validator({**_spec(), "$ref": PREFIX + name})


def _declared(schema: dict, seen=None) -> set[str]:
    """Every property name declared for an object, through allOf/anyOf compositions.

    Why: CreateResponse and CreateChatCompletionRequest are `allOf` of several
    parts and allow additional properties, so a schema check alone accepts
    `top_k` or `num_ctx`. OpenAI rejects them ("Unrecognized request argument").
    """
    seen = set() if seen is None else seen
    if id(schema) in seen:
        return set()
    seen.add(id(schema))
    schema = _resolve(schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "anyOf"):
        for part in schema.get(key, []):
            names |= _declared(part, seen)
    return names


def _describe(error) -> str:
    """One line per problem: where, what, and for failed unions the closest branch."""
    text = f"{error.json_path}: {_clip(error.message)}"
    if error.context:
        best = _closest(error)
        text += f" (closest: {best.json_path}: {_clip(best.message)})"
    return text


def _closest(error):
    """The error inside a failed `anyOf` that most likely explains it.

    jsonschema's `best_match` often picks the `{type: null}` branch that every
    optional field has, or a branch whose `type` tag does not even match. Skip
    those branches, then take the deepest remaining error.
    """
    while error.context:
        branches = {}
        for e in error.context:
            branches.setdefault(e.relative_schema_path[0], []).append(e)
        live = [b for b in branches.values() if not any(map(_wrong_branch, b))]
        errors = [e for b in live or branches.values() for e in b]
        error = max(
            errors, key=lambda e: (len(e.absolute_path), e.validator != "anyOf")
        )
    return error


def _wrong_branch(error) -> bool:
    """Whether this error only says the instance is another kind of thing.

    That is: the `{type: null}` branch, a wrong `type` tag (the spec's usual
    discriminator), or a wrong single-valued tag such as chat messages' `role`.
    """
    path = list(error.relative_path)
    if error.schema == {"type": "null"} or path == ["type"]:
        return True
    single = error.validator == "const" or (
        error.validator == "enum" and len(error.validator_value) == 1
    )
    return len(path) == 1 and single


def _clip(message: str) -> str:
    return message if len(message) <= _MAX else message[: _MAX - 3] + "..."


def _check(name: str, instance, noun: str = "argument") -> list[str]:
    """Problems of `instance` against component `name`: unknown keys, then schema errors."""
    problems = []
    if isinstance(instance, dict):
        known = _declared({"$ref": PREFIX + name})
        problems += [
            f"$: unknown top-level {noun} {key!r} (not declared by {name})"
            for key in sorted(set(instance) - known)
        ]
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.path))
    return problems + [_describe(e) for e in errors]


def check(root: str, instance) -> list[str]:
    """Check against a root of the subset by role, e.g. "responses_object" (see x-roots)."""
    return _check(_spec()["x-roots"][root], instance)


def check_responses_request(body: dict) -> list[str]:
    """Problems of a POST /v1/responses body (schema CreateResponse)."""
    return check("responses_request", body)


def check_chat_request(body: dict) -> list[str]:
    """Problems of a POST /v1/chat/completions body (CreateChatCompletionRequest)."""
    return check("chat_request", body)


def check_chat_chunk(chunk: dict) -> list[str]:
    """Problems of one chat.completion.chunk (CreateChatCompletionStreamResponse)."""
    return check("chat_stream_chunk", chunk)


def check_stream_event(event: dict) -> list[str]:
    """Problems of one /v1/responses server-sent event (a ResponseStreamEvent).

    ResponseStreamEvent is a union of ~60 event schemas told apart by `type`.
    The event is checked against the one branch its `type` names, so errors
    point at the real problem instead of "not valid under any of the schemas",
    and keys that branch does not declare are reported.
    """
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return ["$: an event must be an object with a string 'type'"]
    union = _spec()["components"]["schemas"][
        _spec()["x-roots"]["responses_stream_event"]
    ]
    for branch in union["anyOf"]:
        type_schema = _resolve(branch).get("properties", {}).get("type", {})
        if event["type"] in type_schema.get("enum", [type_schema.get("const")]):
            return _check(branch["$ref"].removeprefix(PREFIX), event, "field")
    return [f"$.type: unknown stream event type {event['type']!r}"]
