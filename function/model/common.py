"""Parsing user objects into typed, frozen specs, with errors that name the field path.

Every spec class derives from `Spec`: camelCase on the wire, snake_case in Python, unknown
fields refused. `parse` turns pydantic's validation errors into one `SpecError` whose entries
read ``spec.models[0].precision: unsupported value 'fp32'; allowed: fp16, fp8, int4`` — the
message a user sees in a FATAL result or an AddonBundle condition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from function.errors import FieldError, SpecError

S = TypeVar("S", bound="Spec")

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label: what Kubernetes accepts as a namespace or a Helm release name."""


class Spec(BaseModel):
    """Base of every parsed spec: camelCase aliases, unknown fields refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys, enums as strings, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_manifest(self) -> dict[str, Any]:
        """The wire form without the fields at their defaults, for objects the project writes:
        the CRD's schema defaults them again, and the object stays as short as its intent."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def parse(cls: type[S], data: Any, *, root: str = "spec") -> S:
    """Validate ``data`` as ``cls``; raise `SpecError` naming every bad field under ``root``."""
    if data is None:
        data = {}
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise SpecError([_field_error(root, err) for err in exc.errors()]) from None


def join_path(root: str, loc: Sequence[int | str]) -> str:
    """``("models", 0, "precision")`` under ``spec`` → ``spec.models[0].precision``."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = part
    return path


def _field_error(root: str, err: ErrorDetails) -> FieldError:
    loc = [p for p in err["loc"] if not _is_union_tag(p)]
    return FieldError(join_path(root, loc), _message(err))


def _is_union_tag(part: int | str) -> bool:
    # pydantic inserts the branch name (e.g. "function-after[...]") into locations.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    if kind in ("enum", "literal_error"):
        allowed = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"unsupported value {err['input']!r}; allowed: {allowed}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in _BOUNDS:
        bound, allowed = _BOUNDS[kind]
        return f"unsupported value {err['input']!r}; allowed: {allowed.format(ctx.get(bound))}"
    return str(err["msg"])


_BOUNDS = {
    "greater_than_equal": ("ge", "{} or more"),
    "greater_than": ("gt", "more than {}"),
    "less_than_equal": ("le", "{} or less"),
    "less_than": ("lt", "less than {}"),
}
"""Numeric bound errors, worded like enum errors: the value and what is allowed."""


class ObjectRef(Spec):
    """A reference to one Kubernetes object."""

    api_version: str = Field(
        description="API version of the object, e.g. cluster.x-k8s.io/v1beta2."
    )
    kind: str = Field(description="Kind of the object.")
    name: str = Field(min_length=1, description="Name of the object.")
    namespace: str | None = Field(
        default=None, description="Namespace of the object; defaults to the referrer's namespace."
    )


class SelectorOperator(StrEnum):
    """Operators of a label selector requirement."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(Spec):
    """One set-based requirement of a label selector."""

    key: str = Field(description="The label key the requirement applies to.")
    operator: SelectorOperator = Field(description="How the key relates to the values.")
    values: list[str] = Field(default_factory=list, description="Values for In and NotIn.")


class LabelSelector(Spec):
    """A Kubernetes label selector; an empty selector matches everything."""

    match_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels that must all be present with these values."
    )
    match_expressions: list[SelectorRequirement] = Field(
        default_factory=list, description="Set-based requirements, all of which must hold."
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with ``labels`` is selected."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator is SelectorOperator.IN and labels.get(req.key) not in req.values:
                return False
            if (
                req.operator is SelectorOperator.NOT_IN
                and present
                and labels[req.key] in req.values
            ):
                return False
            if req.operator is SelectorOperator.EXISTS and not present:
                return False
            if req.operator is SelectorOperator.DOES_NOT_EXIST and present:
                return False
        return True
