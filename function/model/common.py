"""Parsing user objects into typed, frozen specs, with errors that name the field path.

Every spec class derives from `Spec`: camelCase on the wire, snake_case in Python, unknown
fields refused. `parse` turns pydantic's validation errors into one `SpecError` whose entries
read ``spec.models[0].precision: unsupported value 'fp32'; allowed: fp16, fp8, int4`` — the
message a user sees in a FATAL result or an AddonBundle condition.

A spec class that checks several fields together (a pydantic ``model_validator``) declares the
same rule in CEL beside it, in `Spec.CEL` (`cel`); the class's JSON schema carries its rules and
those of its bases as ``x-kubernetes-validations``, so the generated CRDs and XRDs make the API
server refuse what the parser refuses (`function.model.schema`).

Before pydantic sees the data, `function.model.limits.check_shape` bounds its nesting and
sizes. Integer fields take only integers — not ``"3"``, ``true`` or ``3.5`` — within the
field's range, and a refusal names the whole range: ``spec.models[0].replicas: unsupported
value 0; allowed: an integer from 1 to 64``.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar, Self, TypeVar

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, ErrorDetails

from function.errors import FieldError, SpecError
from function.model.limits import MAX_DEPTH, check_shape, join_path

S = TypeVar("S", bound="Spec")

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label: what Kubernetes accepts as a namespace or a Helm release name."""


def cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    """One Kubernetes CEL validation rule (``self`` is the object it sits on), with the message
    the API server returns and, when the rule is about one field, that field's path."""
    out: JsonDict = {"rule": rule, "message": message}
    if field_path is not None:
        out["fieldPath"] = field_path
    return out


class Spec(BaseModel):
    """Base of every parsed spec: camelCase aliases, unknown fields refused, immutable."""

    CEL: ClassVar[tuple[JsonDict, ...]] = ()
    """CEL forms of the class's own model validators; subclasses inherit them, as they inherit
    the validators."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _integers_only(cls, value: Any, info: ValidationInfo) -> Any:
        """An integer field takes an integer in its range (integral floats: JSON has no ints)."""
        if value is None or info.field_name is None:
            return value
        bounds = _integer_bounds(cls, info.field_name)
        if bounds is None:
            return value
        low, high = bounds
        number = value
        if type(value) is float and value.is_integer():
            number = int(value)
        if (
            type(number) is not int
            or (low is not None and number < low)
            or (high is not None and number > high)
        ):
            raise ValueError(f"unsupported value {_short(value)}; allowed: {_range(low, high)}")
        return number

    @classmethod
    def cel_rules(cls) -> list[JsonDict]:
        """The CEL rules of the class and its bases, bases first, each once."""
        rules: list[JsonDict] = []
        for klass in reversed(cls.__mro__):
            for rule in vars(klass).get("CEL", ()):
                if rule not in rules:
                    rules.append(rule)
        return rules

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        rules = cls.cel_rules()
        if rules:
            handler.resolve_ref_schema(schema)["x-kubernetes-validations"] = rules
        return schema

    def model_post_init(self, context: Any, /) -> None:
        """Share the set of the fields given (`_fields_set`)."""
        object.__setattr__(self, "__pydantic_fields_set__", _fields_set(self.model_fields_set))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """`BaseModel.model_copy` (its fields are not validated), sharing the set of the fields
        given (`_fields_set`); ``deep`` copies as pydantic does."""
        if deep:
            copied = super().model_copy(update=update, deep=True)
            copied.model_post_init(None)
            return copied
        cls = type(self)
        copied = cls.__new__(cls)
        given = self.model_fields_set
        values = self.__dict__
        if update:
            values = {**values, **update}
            given = _fields_set(given.union(update))
        else:
            values = dict(values)
        object.__setattr__(copied, "__dict__", values)
        object.__setattr__(copied, "__pydantic_fields_set__", given)
        object.__setattr__(copied, "__pydantic_extra__", None)  # extra fields are refused
        object.__setattr__(copied, "__pydantic_private__", None)  # specs have none
        return copied

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys, enums as strings, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_manifest(self) -> dict[str, Any]:
        """The wire form without the fields at their defaults, for objects the project writes:
        the CRD's schema defaults them again, and the object stays as short as its intent."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
"""Every set of given fields a spec has had, once. Pydantic keeps one set per instance (for
``exclude_unset``), 700 bytes once it names five fields or more: more than the instance's
values for most statuses, of which a fleet keeps one per add-on and cluster. Specs are frozen
and `Spec.model_copy` makes a set of its own for what it changes, so nothing adds to a set
once it is shared."""

_MAX_FIELDS_SETS = 4096
"""Distinct sets beyond this many are left unshared (each is a combination of one class's
field names: a few per class in practice)."""


def _fields_set(given: set[str]) -> set[str]:
    """The shared set equal to ``given``."""
    key = frozenset(given)
    shared = _FIELDS_SETS.get(key)
    if shared is None:
        if len(_FIELDS_SETS) >= _MAX_FIELDS_SETS:
            return set(given)
        shared = _FIELDS_SETS[key] = set(key)
    return shared


def parse(
    cls: type[S],
    data: Any,
    *,
    root: str = "spec",
    max_depth: int = MAX_DEPTH,
    ignore: frozenset[str] = frozenset(),
) -> S:
    """Validate ``data`` as ``cls``; raise `SpecError` naming every bad field under ``root``
    (and the first part nested deeper than ``max_depth`` or larger than the limits). Top-level
    fields named in ``ignore`` belong to someone else (Crossplane's machinery, an object's
    apiVersion, kind and metadata) and are left out before validation."""
    if data is None:
        data = {}
    elif ignore and isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ignore}
    check_shape(data, root, max_depth=max_depth)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise SpecError([_field_error(root, err) for err in exc.errors()]) from None


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
        return f"unsupported value {_short(err['input'])}; allowed: {allowed}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "string_pattern_mismatch":
        return (
            f"unsupported value {_short(err['input'])}; allowed: text matching {ctx.get('pattern')}"
        )
    if kind == "string_too_long":
        return (
            f"a text of {len(err['input']):,} characters; allowed: at most {ctx.get('max_length')}"
        )
    if kind == "too_long":
        return f"{ctx.get('actual_length')} items; allowed: at most {ctx.get('max_length')}"
    if kind in _BOUNDS:
        bound, allowed = _BOUNDS[kind]
        return (
            f"unsupported value {_short(err['input'])}; allowed: {allowed.format(ctx.get(bound))}"
        )
    return str(err["msg"])


def _short(value: Any) -> str:
    """A user's value for a message: quoted, and cut if long."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


_BOUNDS = {
    "greater_than_equal": ("ge", "{} or more"),
    "greater_than": ("gt", "more than {}"),
    "less_than_equal": ("le", "{} or less"),
    "less_than": ("lt", "less than {}"),
}
"""Numeric bound errors, worded like enum errors: the value and what is allowed."""


@cache
def _integer_bounds(spec: type[Spec], name: str) -> tuple[int | None, int | None] | None:
    """The range of an integer field (``int``, ``int | None``, a ``Literal`` of ints), or None
    for a field of another type."""
    info: FieldInfo = spec.model_fields[name]
    members = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    annotation = members[0] if len(members) == 1 else info.annotation
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        if choices and all(type(c) is int for c in choices):
            return min(choices), max(choices)
        return None
    if annotation is not int:
        return None
    low = high = None
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge):
            low = int(bound.ge)  # type: ignore[call-overload]
        elif isinstance(bound, annotated_types.Gt):
            low = int(bound.gt) + 1  # type: ignore[call-overload]
        elif isinstance(bound, annotated_types.Le):
            high = int(bound.le)  # type: ignore[call-overload]
        elif isinstance(bound, annotated_types.Lt):
            high = int(bound.lt) - 1  # type: ignore[call-overload]
    return low, high


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer from {low} to {high}"
    if low is not None:
        return f"an integer, {low} or more"
    if high is not None:
        return f"an integer, {high} or less"
    return "an integer"


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
