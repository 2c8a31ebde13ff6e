"""The provider-family table: every provider an XR may name has a family, and the function
decodes every observed field any family reads."""

from function.compose import OBSERVED_FIELDS
from function.compose.providers import FAMILIES
from function.model.xr import Provider


def test_every_provider_has_a_family() -> None:
    assert set(FAMILIES) == set(Provider)


def test_the_function_decodes_every_field_a_family_reads() -> None:
    for family in FAMILIES.values():
        for name, paths in family.observed_fields.items():
            assert set(paths) <= set(OBSERVED_FIELDS[name]), name
