"""Our own check of a Pulumi package schema, the JSON a provider answers GetSchema with.

Written from Pulumi's package-schema documentation (pulumi.com "Pulumi package schema" and the
developer docs' metaschema reference), for what a component package like components/ must get
right for `pulumi package add` and the SDKs it generates: the package name and version, type
tokens `<package>:<module>:<Type>`, components marked as such, every property a type spec the
code generators read (a primitive, an array with items, a map, a union or a `$ref`), `$ref`s
that resolve or have the external `/<package>/v<version>/schema.json#/...` shape, required
names that are declared, and language sections that are objects. It does not fetch external
schemas, so an external ref is checked for its shape and against `dependencies`, not resolved.

`package_schema_problems(schema)` returns one line per problem, "<path>: <what>", path in the
schema as JSON Pointer-like segments; an empty list means no problem found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

PACKAGE_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9_]*")
# Semantic versioning 2.0.0 (numbers without leading zeros, dot-separated pre-release and build
# identifiers); Pulumi also accepts a leading "v".
_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
SEMVER = re.compile(
    rf"v?{_NUMBER}\.{_NUMBER}\.{_NUMBER}"
    rf"(?:-{_PRE_ID}(?:\.{_PRE_ID})*)?(?:\+{_BUILD_ID}(?:\.{_BUILD_ID})*)?"
)
NAMESPACE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# Module and member of a token. Stricter than Pulumi's own pattern, which takes any non-digit
# first and an empty module: an empty module puts "::" (the URN separator) in the URN.
TOKEN_PART = re.compile(r"[A-Za-z_][A-Za-z0-9._/-]*")
# An external schema's location in a $ref: "/<package>/v<version>/schema.json", optionally
# behind http(s)://host.
EXTERNAL_PATH = re.compile(r"/?(?P<package>[-\w]+)/v(?P<version>[^/]+)/schema\.json")
BUILTIN_REFS = frozenset(f"pulumi.json#/{name}" for name in ("Any", "Archive", "Asset", "Json"))
PRIMITIVES = frozenset({"boolean", "integer", "number", "string"})

# The top-level keys the schema documentation describes; anything else is a typo or a key this
# check (and, likely, the consumers' code generators) does not know.
TOP_LEVEL_KEYS = frozenset(
    {
        "name", "displayName", "version", "description", "keywords", "homepage", "license",
        "attribution", "repository", "logoUrl", "pluginDownloadURL", "publisher", "namespace",
        "configurationDocsUrl", "validateCredentialsOnNew", "meta", "config", "types",
        "provider", "resources", "functions", "language", "dependencies", "parameterization",
        "allowedPackageNames",
    }
)  # fmt: skip


def package_schema_problems(schema: Any) -> list[str]:
    """Every problem found in `schema` (a parsed GetSchema answer); [] when none.

    Checked as a component package: every resource must be a component (isComponent: true),
    which is what a package served by component_provider_host declares."""
    if not isinstance(schema, Mapping):
        return [f"(root): expected an object, got {type(schema).__name__}"]
    checker = _Checker(schema)
    checker.package()
    return checker.problems


class _Checker:
    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.problems: list[str] = []
        name = schema.get("name")
        self.name = name if isinstance(name, str) else None
        allowed = schema.get("allowedPackageNames")
        self.packages = {self.name, *(allowed if isinstance(allowed, list) else [])} - {None}
        self.dependencies: dict[str, str | None] = {}
        self.sections = {
            section: self.mapping(section, schema.get(section, {}))
            for section in ("types", "resources", "functions")
        }

    def add(self, at: str, what: str) -> None:
        self.problems.append(f"{at}: {what}")

    # The package as a whole.

    def package(self) -> None:
        schema = self.schema
        for key in sorted(set(schema) - TOP_LEVEL_KEYS):
            self.add(key, "not a key of a Pulumi package schema")
        if "name" not in schema:
            self.add("name", "missing (the package name is required)")
        else:
            self.pattern(
                "name", schema["name"], PACKAGE_NAME, "a letter, then letters, digits, -, _"
            )
        if "version" in schema:
            self.pattern("version", schema["version"], SEMVER, "a semantic version")
        if "namespace" in schema:
            self.pattern("namespace", schema["namespace"], NAMESPACE, "lowercase words joined by -")
        self.dependency_list()
        self.language("language", schema.get("language"))
        for section, members in self.sections.items():
            for token in members:
                self.token(f"{section}/{token}", token)
        for token, spec in self.sections["types"].items():
            self.type_definition(f"types/{token}", spec)
        for token, spec in self.sections["resources"].items():
            self.resource(f"resources/{token}", spec, component=True)
        if "provider" in schema:
            self.resource("provider", schema["provider"], component=False)
        for token, spec in self.sections["functions"].items():
            self.function(f"functions/{token}", spec)
        config = self.mapping("config", schema.get("config", {}))
        self.properties("config/variables", config.get("variables", {}))

    def dependency_list(self) -> None:
        dependencies = self.schema.get("dependencies", [])
        if not isinstance(dependencies, list):
            self.add("dependencies", f"expected a list, got {dependencies!r}")
            return
        for i, dependency in enumerate(dependencies):
            at = f"dependencies/{i}"
            if not isinstance(dependency, Mapping):
                self.add(at, f"expected an object, got {dependency!r}")
                continue
            name, version = dependency.get("name"), dependency.get("version")
            if name is None:
                self.add(f"{at}/name", "missing")
            elif self.pattern(f"{at}/name", name, PACKAGE_NAME, "a package name"):
                self.dependencies[name] = None
            if version is not None and self.pattern(
                f"{at}/version", version, SEMVER, "a semantic version"
            ):
                self.dependencies[str(name)] = version.removeprefix("v")

    # Members: tokens, resources, types, functions.

    def token(self, at: str, token: str) -> None:
        parts = token.split(":")
        if len(parts) != 3:
            self.add(at, f"token {token!r} is not <package>:<module>:<Type>")
            return
        package, module, member = parts
        if package not in self.packages:
            self.add(at, f"token {token!r} does not start with the package name {self.name!r}")
        for part, what in ((module, "module"), (member, "type name")):
            if not TOKEN_PART.fullmatch(part):
                self.add(
                    at, f"token {token!r}: {what} {part!r} is not a letter or _ followed by "
                    "letters, digits, '.', '_', '/', '-'",
                )  # fmt: skip
        if module in ("", "index") and member.lower() == "provider":
            self.add(at, f"token {token!r}: 'provider' is reserved in the root module")

    def resource(self, at: str, spec: Any, *, component: bool) -> None:
        if not isinstance(spec, Mapping):
            self.add(at, f"expected an object, got {spec!r}")
            return
        is_component = spec.get("isComponent")
        if is_component is not None and not isinstance(is_component, bool):
            self.add(f"{at}/isComponent", f"expected true or false, got {is_component!r}")
        elif component and is_component is not True:
            self.add(f"{at}/isComponent", "a component package's resource must be a component")
        self.object_shape(at, spec, "inputProperties", "requiredInputs")
        self.object_shape(at, spec, "properties", "required")
        self.language(f"{at}/language", spec.get("language"))

    def type_definition(self, at: str, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            self.add(at, f"expected an object, got {spec!r}")
            return
        kind = spec.get("type")
        if "enum" in spec:
            self.enum(at, spec)
        elif kind == "object":
            self.object_shape(at, spec, "properties", "required")
        else:
            self.add(f"{at}/type", f"a type definition is an object or an enum, got type {kind!r}")
        self.language(f"{at}/language", spec.get("language"))

    def enum(self, at: str, spec: Mapping[str, Any]) -> None:
        if spec.get("type") not in PRIMITIVES:
            self.add(f"{at}/type", f"an enum's type is one of {sorted(PRIMITIVES)}")
        values = spec["enum"]
        if not isinstance(values, list) or not values:
            self.add(f"{at}/enum", "expected a non-empty list of values")
            return
        for i, value in enumerate(values):
            if not isinstance(value, Mapping) or "value" not in value:
                self.add(f"{at}/enum/{i}", "expected an object with a value")

    def function(self, at: str, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            self.add(at, f"expected an object, got {spec!r}")
            return
        for part in ("inputs", "outputs"):
            if part in spec and isinstance(spec[part], Mapping):
                self.object_shape(f"{at}/{part}", spec[part], "properties", "required")
            elif part in spec:
                self.add(f"{at}/{part}", f"expected an object, got {spec[part]!r}")

    def object_shape(self, at: str, spec: Mapping[str, Any], declared: str, required: str) -> None:
        """Properties under `declared`, and the names under `required` among them."""
        names = self.properties(f"{at}/{declared}", spec.get(declared, {}))
        wanted = spec.get(required, [])
        if not isinstance(wanted, list) or not all(isinstance(n, str) for n in wanted):
            self.add(f"{at}/{required}", f"expected a list of property names, got {wanted!r}")
            return
        for name in wanted:
            if name not in names:
                self.add(f"{at}/{required}", f"{name!r} is not in {declared}")

    def properties(self, at: str, properties: Any) -> set[str]:
        for name, spec in self.mapping(at, properties).items():
            self.property(f"{at}/{name}", spec)
        return set(properties) if isinstance(properties, Mapping) else set()

    def property(self, at: str, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            self.add(at, f"expected a property spec (an object), got {spec!r}")
            return
        self.type_spec(at, spec)
        for key, kind in (("description", str), ("deprecationMessage", str)):
            if key in spec and not isinstance(spec[key], kind):
                self.add(f"{at}/{key}", f"expected a string, got {spec[key]!r}")
        for key in ("secret", "replaceOnChanges", "willReplaceOnChanges"):
            if key in spec and not isinstance(spec[key], bool):
                self.add(f"{at}/{key}", f"expected true or false, got {spec[key]!r}")
        self.language(f"{at}/language", spec.get("language"))

    # Type specs and references.

    def type_spec(self, at: str, spec: Any) -> None:
        """One of: a $ref, a union (oneOf), a primitive, an array with items, a map."""
        if not isinstance(spec, Mapping):
            self.add(at, f"expected a type spec (an object), got {spec!r}")
            return
        if "plain" in spec and not isinstance(spec["plain"], bool):
            self.add(f"{at}/plain", f"expected true or false, got {spec['plain']!r}")
        kind = spec.get("type")
        if "$ref" in spec:
            self.excluded(at, spec, "a $ref", ("oneOf", "items", "additionalProperties"))
            if kind is not None and not isinstance(kind, str):
                self.add(f"{at}/type", f"expected a string, got {kind!r}")
            self.reference(f"{at}/$ref", spec["$ref"])
        elif "oneOf" in spec:
            self.excluded(at, spec, "a union", ("items", "additionalProperties"))
            self.union(at, spec)
        elif kind in PRIMITIVES:
            self.excluded(at, spec, f"a {kind}", ("items", "additionalProperties"))
        elif kind == "array":
            self.excluded(at, spec, "an array", ("additionalProperties",))
            if "items" not in spec:
                self.add(at, "an array type needs items (its element type)")
            else:
                self.type_spec(f"{at}/items", spec["items"])
        elif kind == "object":
            # A map from string keys to additionalProperties (string when left out).
            self.excluded(at, spec, "a map", ("items",))
            if "additionalProperties" in spec:
                self.type_spec(f"{at}/additionalProperties", spec["additionalProperties"])
        elif kind is None:
            self.add(at, "neither a type nor a $ref")
        else:
            allowed = [*sorted(PRIMITIVES), "array", "object"]
            self.add(f"{at}/type", f"unknown type {kind!r}; allowed: {', '.join(allowed)}")

    def excluded(self, at: str, spec: Mapping[str, Any], what: str, keys: tuple[str, ...]) -> None:
        for key in keys:
            if key in spec:
                self.add(f"{at}/{key}", f"{what} has no {key}")

    def union(self, at: str, spec: Mapping[str, Any]) -> None:
        options = spec["oneOf"]
        if not isinstance(options, list) or len(options) < 2:
            self.add(f"{at}/oneOf", "expected a list of at least two type specs")
            return
        if "type" in spec and spec["type"] not in PRIMITIVES:
            self.add(f"{at}/type", f"a union's type is one of {sorted(PRIMITIVES)}")
        for i, option in enumerate(options):
            self.type_spec(f"{at}/oneOf/{i}", option)

    def reference(self, at: str, ref: Any) -> None:
        if not isinstance(ref, str):
            self.add(at, f"expected a string, got {ref!r}")
            return
        if ref in BUILTIN_REFS:
            return
        parts = urlsplit(ref)
        kind, _, escaped = parts.fragment.removeprefix("/").partition("/")
        token = unquote(escaped)  # tokens are path-escaped in refs: aws:s3%2Fbucket:Bucket
        if kind not in ("types", "resources", "provider") or (kind == "provider") == bool(token):
            self.add(at, f"{ref!r} is not #/types/<token>, #/resources/<token> or #/provider")
            return
        if parts.path:
            self.external(at, ref, parts.scheme, parts.path, kind, token)
        else:
            self.local(at, ref, kind, token)

    def local(self, at: str, ref: str, kind: str, token: str) -> None:
        """A ref into this schema."""
        if kind == "provider":
            if "provider" not in self.schema:
                self.add(at, f"{ref!r}: the schema has no provider")
        elif token not in self.sections[kind]:
            self.add(at, f"{ref!r}: no {kind} entry {token!r}")

    def external(self, at: str, ref: str, scheme: str, path: str, kind: str, token: str) -> None:
        located = EXTERNAL_PATH.fullmatch(unquote(path))
        if scheme not in ("", "http", "https") or located is None:
            self.add(at, f"{ref!r}: an external ref is /<package>/v<version>/schema.json#/...")
            return
        package, version = located["package"], located["version"]
        if not SEMVER.fullmatch(version):
            self.add(at, f"{ref!r}: {version!r} is not a semantic version")
        if kind != "provider" and len(token.split(":")) != 3:
            self.add(at, f"{ref!r}: {token!r} is not <package>:<module>:<Type>")
        if package == self.name and version == str(self.schema.get("version")).removeprefix("v"):
            self.local(at, ref, kind, token)  # this package, spelled as an external ref
            return
        # A consumer's generated SDK requires the packages in `dependencies`, at their versions:
        # a ref to another package or version would be typed against one it does not install.
        if "dependencies" in self.schema and package != self.name:
            if package not in self.dependencies:
                self.add(at, f"{ref!r}: package {package!r} is not in dependencies")
            elif self.dependencies[package] not in (None, version):
                self.add(
                    at, f"{ref!r}: version {version} differs from dependencies' "
                    f"{package} {self.dependencies[package]}",
                )  # fmt: skip

    # Small shared checks.

    def language(self, at: str, section: Any) -> None:
        """A language section maps language names to objects of settings."""
        if section is None:
            return
        if not isinstance(section, Mapping):
            self.add(at, f"expected an object of per-language settings, got {section!r}")
            return
        for language, settings in section.items():
            if not isinstance(settings, Mapping):
                self.add(f"{at}/{language}", f"expected an object of settings, got {settings!r}")

    def mapping(self, at: str, value: Any) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.add(at, f"expected an object, got {value!r}")
        return {}

    def pattern(self, at: str, value: Any, pattern: re.Pattern[str], what: str) -> bool:
        if isinstance(value, str) and pattern.fullmatch(value):
            return True
        self.add(at, f"{value!r} is not {what}")
        return False
