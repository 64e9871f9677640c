"""Shared building blocks of the settings schema: strict models and validated scalar types."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from .quantities import byte_count, cpu_millis, duration_seconds


class StrictModel(BaseModel):
    """Frozen, unknown keys refused, camelCase keys as users write them in stack files."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_true_or_false(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode would take "yes", "on", 1 or "f" for a boolean; a stack file says
        # true or false. (YAML 1.1 read `yes` as true; the Pulumi CLI reads it as the text "yes".)
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and field.annotation is bool and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "Input should be a valid boolean")
        return value


def _as_text(value: Any) -> Any:
    # YAML turns `cpu: 1` into an int and `cpu: 0.5` into a float; Kubernetes accepts both.
    if isinstance(value, bool):
        return value  # a boolean is never a quantity; let the str check reject it
    if isinstance(value, int | float):
        return format(value, "g") if isinstance(value, float) else str(value)
    return value


def _check(parse: Any) -> Any:
    def validate(value: str) -> str:
        parse(value)
        return value

    return validate


class Kind:
    """Names a text type in the generated config reference ("CPU quantity", not "text")."""

    def __init__(self, name: str) -> None:
        self.name = name


CpuQuantity = Annotated[
    str, BeforeValidator(_as_text), AfterValidator(_check(cpu_millis)), Kind("CPU quantity")
]
ByteQuantity = Annotated[
    str, BeforeValidator(_as_text), AfterValidator(_check(byte_count)), Kind("byte quantity")
]
Duration = Annotated[str, AfterValidator(_check(duration_seconds)), Kind("duration (30s, 10m)")]

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def dns_label(max_length: int) -> Any:
    """A validator for names that end up in Kubernetes object names and Swarm service names.

    Use as `Annotated[str, dns_label(40), Kind("DNS label, at most 40 characters")]`, or DnsLabel.
    """

    def validate(value: str) -> str:
        if len(value) > max_length or not _DNS_LABEL.match(value):
            raise ValueError(
                "expected a DNS label: lowercase letters, digits and '-', starting with a letter, "
                f"ending with a letter or digit, at most {max_length} characters"
            )
        return value

    return AfterValidator(validate)


_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def split_image_reference(reference: str) -> tuple[str, str | None, str | None]:
    """'repo:tag@sha256:...' -> (repository, tag, digest); ValueError when malformed."""
    name, _, digest = reference.partition("@")
    head, _, last = name.rpartition("/")
    repository, tag = name, None
    if ":" in last:
        last_name, tag = last.split(":", 1)
        repository = f"{head}/{last_name}" if head else last_name
    if (
        not _REPOSITORY.match(repository)
        or (tag is not None and not _TAG.match(tag))
        or (digest and not _DIGEST.match(digest))
    ):
        raise ValueError("expected an image reference such as python:3.11.11-slim-bookworm")
    return repository, tag, digest or None


def _pinned_image(value: str) -> str:
    _, tag, digest = split_image_reference(value)
    if digest is None and (tag is None or tag == "latest"):
        raise ValueError("expected a pinned image: a tag other than 'latest', or a @sha256 digest")
    return value


DnsLabel = Annotated[str, dns_label(63), Kind("DNS label")]
PinnedImage = Annotated[str, AfterValidator(_pinned_image), Kind("image reference (pinned)")]
