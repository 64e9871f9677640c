"""tests/support/package_schema.py finds each kind of defect: a valid package schema passes, and
each mutation of it (one defect) is reported with the path and reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.package_schema import package_schema_problems

STACK = "resources/acme:index:Serving"
MODEL = "types/acme:index:ModelArgs"


def valid() -> dict[str, Any]:
    """A component package shaped like ours, using each kind of type spec the checker reads."""
    return {
        "name": "acme",
        "version": "1.2.3-rc.1+build.5",
        "displayName": "Acme serving",
        "language": {"python": {"respectSchemaVersion": True}, "nodejs": {}},
        "dependencies": [
            {"name": "kubernetes", "version": "4.32.0"},
            {"name": "docker"},
        ],
        "types": {
            "acme:index:ModelArgs": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The model's name."},
                    "replicas": {"type": "integer"},
                    "labels": {"type": "object"},
                    "extra": {
                        "type": "object",
                        "additionalProperties": {"$ref": "pulumi.json#/Any"},
                    },
                    "port": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                    "tier": {"$ref": "#/types/acme:index:Tier"},
                },
                "required": ["name"],
            },
            "acme:index:Tier": {
                "type": "string",
                "enum": [{"value": "small"}, {"value": "large", "name": "Large"}],
            },
        },
        "resources": {
            "acme:index:Serving": {
                "isComponent": True,
                "inputProperties": {
                    "models": {"type": "array", "items": {"$ref": "#/types/acme:index:ModelArgs"}},
                    "weight": {"type": "number", "plain": True},
                    "dryRun": {"type": "boolean"},
                    "kubernetesProvider": {
                        "$ref": "/kubernetes/v4.32.0/schema.json"
                        "#/resources/pulumi:providers:kubernetes"
                    },
                    "network": {
                        "$ref": "https://example.com/docker/v5.2.0/schema.json"
                        "#/resources/docker:index%2Fnetwork:Network"
                    },
                    "peer": {"$ref": "#/resources/acme:index:Serving"},
                    "self": {
                        "$ref": "/acme/v1.2.3-rc.1+build.5/schema.json#/types/acme:index:Tier"
                    },
                },
                "requiredInputs": ["models"],
                "properties": {"endpoints": {"type": "object", "secret": True}},
                "required": ["endpoints"],
            }
        },
    }


def at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting the value at `path` ('/'-separated keys; tokens hold no '/' here)."""
    *parents, last = path.split("/")

    def mutate(schema: dict[str, Any]) -> None:
        node = schema
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return mutate


def without(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split("/")

    def mutate(schema: dict[str, Any]) -> None:
        node = schema
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def rename_resource(token: str) -> Callable[[dict[str, Any]], None]:
    def mutate(schema: dict[str, Any]) -> None:
        schema["resources"][token] = schema["resources"].pop("acme:index:Serving")
        schema["resources"][token]["inputProperties"].pop("peer")

    return mutate


INPUTS = f"{STACK}/inputProperties"
DEFECTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # The package.
    "name missing": (without("name"), "name: missing"),
    "name with a space": (at("name", "ac me"), "name: 'ac me' is not a letter"),
    "name starting with a digit": (at("name", "1acme"), "name: '1acme' is not a letter"),
    "version not semver": (at("version", "1.2"), "version: '1.2' is not a semantic version"),
    "version with a leading zero": (at("version", "01.2.3"), "version: '01.2.3' is not a sem"),
    "unknown top-level key": (at("resource", {}), "resource: not a key of a Pulumi package"),
    "dependency version": (at("dependencies/1/version", "five"), "dependencies/1/version: 'five'"),
    # Tokens.
    "token of another package": (
        rename_resource("other:index:Serving"),
        "resources/other:index:Serving: token 'other:index:Serving' does not start with the "
        "package name 'acme'",
    ),
    "token of two parts": (
        rename_resource("acme:Serving"),
        "resources/acme:Serving: token 'acme:Serving' is not <package>:<module>:<Type>",
    ),
    "token without a module": (rename_resource("acme::Serving"), "module '' is not a letter"),
    "type name starting with a digit": (
        rename_resource("acme:index:2Serving"),
        "type name '2Serving' is not a letter",
    ),
    "provider in the root module": (
        rename_resource("acme:index:Provider"),
        "'provider' is reserved in the root module",
    ),
    # Resources.
    "component not marked": (without(f"{STACK}/isComponent"), f"{STACK}/isComponent: a comp"),
    "component marked false": (at(f"{STACK}/isComponent", False), f"{STACK}/isComponent: a comp"),
    "requiredInputs not declared": (
        at(f"{STACK}/requiredInputs", ["models", "size"]),
        f"{STACK}/requiredInputs: 'size' is not in inputProperties",
    ),
    "required not declared": (
        at(f"{STACK}/required", ["urls"]),
        f"{STACK}/required: 'urls' is not in properties",
    ),
    "type's required not declared": (
        at(f"{MODEL}/required", ["name", "framework"]),
        f"{MODEL}/required: 'framework' is not in properties",
    ),
    "requiredInputs not a list": (
        at(f"{STACK}/requiredInputs", "models"),
        f"{STACK}/requiredInputs: expected a list of property names",
    ),
    # Type specs.
    "unknown type": (at(f"{INPUTS}/weight/type", "float"), f"{INPUTS}/weight/type: unknown type"),
    "no type at all": (at(f"{INPUTS}/dryRun", {}), f"{INPUTS}/dryRun: neither a type nor a $ref"),
    "array without items": (
        without(f"{INPUTS}/models/items"),
        f"{INPUTS}/models: an array type needs items",
    ),
    "array items invalid": (
        at(f"{INPUTS}/models/items", {"type": "list"}),
        f"{INPUTS}/models/items/type: unknown type 'list'",
    ),
    "map of an invalid type": (
        at(f"{MODEL}/properties/extra/additionalProperties", {"type": "array"}),
        f"{MODEL}/properties/extra/additionalProperties: an array type needs items",
    ),
    "primitive with items": (
        at(f"{INPUTS}/weight/items", {"type": "string"}),
        f"{INPUTS}/weight/items: a number has no items",
    ),
    "map with items": (
        at(f"{MODEL}/properties/labels/items", {"type": "string"}),
        f"{MODEL}/properties/labels/items: a map has no items",
    ),
    "union of one": (
        at(f"{MODEL}/properties/port/oneOf", [{"type": "integer"}]),
        f"{MODEL}/properties/port/oneOf: expected a list of at least two type specs",
    ),
    "property not an object": (at(f"{INPUTS}/dryRun", "boolean"), f"{INPUTS}/dryRun: expected a"),
    "plain not a boolean": (at(f"{INPUTS}/weight/plain", "yes"), f"{INPUTS}/weight/plain: exp"),
    "secret not a boolean": (
        at(f"{STACK}/properties/endpoints/secret", 1),
        f"{STACK}/properties/endpoints/secret: expected true or false",
    ),
    "enum without values": (at("types/acme:index:Tier/enum", []), "Tier/enum: expected a non-e"),
    "type definition neither object nor enum": (
        without(f"{MODEL}/type"),
        f"{MODEL}/type: a type definition is an object or an enum",
    ),
    # References.
    "local type ref missing": (
        at(f"{MODEL}/properties/tier/$ref", "#/types/acme:index:Size"),
        f"{MODEL}/properties/tier/$ref: '#/types/acme:index:Size': no types entry",
    ),
    "local resource ref missing": (
        at(f"{INPUTS}/peer/$ref", "#/resources/acme:index:Other"),
        f"{INPUTS}/peer/$ref: '#/resources/acme:index:Other': no resources entry",
    ),
    "ref to a type as a resource": (
        at(f"{INPUTS}/peer/$ref", "#/resources/acme:index:Tier"),
        "no resources entry 'acme:index:Tier'",
    ),
    "ref to the provider of a package without one": (
        at(f"{INPUTS}/peer/$ref", "#/provider"),
        "'#/provider': the schema has no provider",
    ),
    "ref of an unknown kind": (
        at(f"{INPUTS}/peer/$ref", "#/things/acme:index:Serving"),
        "is not #/types/<token>, #/resources/<token> or #/provider",
    ),
    "unknown builtin": (at(f"{INPUTS}/peer/$ref", "pulumi.json#/Anything"), "is not #/types/"),
    "external ref without v": (
        at(
            f"{INPUTS}/kubernetesProvider/$ref",
            "/kubernetes/4.32.0/schema.json#/resources/pulumi:providers:kubernetes",
        ),
        "an external ref is /<package>/v<version>/schema.json#/...",
    ),
    "external ref to another file": (
        at(f"{INPUTS}/kubernetesProvider/$ref", "kubernetes.json#/resources/pulumi:providers:k"),
        "an external ref is /<package>/v<version>/schema.json#/...",
    ),
    "external ref with a bad version": (
        at(f"{INPUTS}/kubernetesProvider/$ref", "/kubernetes/vlatest/schema.json#/provider"),
        "'latest' is not a semantic version",
    ),
    "external ref to a bad token": (
        at(f"{INPUTS}/kubernetesProvider/$ref", "/kubernetes/v4.32.0/schema.json#/types/Pod"),
        "'Pod' is not <package>:<module>:<Type>",
    ),
    "external ref to a version not depended on": (
        at(f"{INPUTS}/kubernetesProvider/$ref", "/kubernetes/v4.31.0/schema.json#/provider"),
        "version 4.31.0 differs from dependencies' kubernetes 4.32.0",
    ),
    "external ref to a package not depended on": (
        at(f"{INPUTS}/kubernetesProvider/$ref", "/aws/v6.0.0/schema.json#/provider"),
        "package 'aws' is not in dependencies",
    ),
    "own package ref that does not resolve": (
        at(f"{INPUTS}/self/$ref", "/acme/v1.2.3-rc.1+build.5/schema.json#/types/acme:index:Size"),
        "no types entry 'acme:index:Size'",
    ),
    # Language sections.
    "language not an object": (at("language", ["python"]), "language: expected an object of"),
    "a language's settings not an object": (
        at("language/python", "respectSchemaVersion"),
        "language/python: expected an object of settings",
    ),
    "a property's language not an object": (
        at(f"{INPUTS}/weight/language", "csharp"),
        f"{INPUTS}/weight/language: expected an object of per-language settings",
    ),
}


def test_a_valid_schema_has_no_problems() -> None:
    assert package_schema_problems(valid()) == []


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_is_reported(defect: str) -> None:
    mutate, expected = DEFECTS[defect]
    schema = copy.deepcopy(valid())
    mutate(schema)
    problems = package_schema_problems(schema)
    assert any(expected in problem for problem in problems), problems


def test_not_an_object() -> None:
    assert package_schema_problems(["name"]) == ["(root): expected an object, got list"]
