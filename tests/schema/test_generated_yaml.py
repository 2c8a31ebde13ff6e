"""The generated XRDs and CRDs read as plain YAML and add to, not repeat, what Crossplane adds."""

from pathlib import Path

import pytest
import yaml

from function.model.schema import (
    CROSSPLANE_CLAIM_COLUMNS,
    CROSSPLANE_XR_COLUMNS,
    generated_files,
)

ROOT = Path(__file__).parents[2]
XRDS = sorted(p for p in generated_files() if p.startswith("xrds/"))


def _events(text: str) -> list[yaml.Event]:
    return list(yaml.parse(text))


@pytest.mark.parametrize("relative", sorted(generated_files()))
def test_no_generated_file_has_an_anchor_or_alias(relative: str) -> None:
    for text in (generated_files()[relative], (ROOT / relative).read_text()):
        events = _events(text)
        assert not [e for e in events if isinstance(e, yaml.AliasEvent)], relative
        anchored = [e for e in events if getattr(e, "anchor", None)]
        assert not anchored, f"{relative}: anchor {anchored[0].anchor}"


def test_a_shared_list_is_written_out_twice() -> None:
    from function.model.schema import dump

    shared = ["a", "b"]
    text = dump({"x": shared, "y": shared})
    assert "&" not in text and "*" not in text
    assert yaml.safe_load(text) == {"x": ["a", "b"], "y": ["a", "b"]}


@pytest.mark.parametrize("relative", XRDS)
def test_xrd_printer_columns_do_not_repeat_crossplanes(relative: str) -> None:
    xrd = yaml.safe_load((ROOT / relative).read_text())
    claimed = "claimNames" in xrd["spec"]
    for version in xrd["spec"]["versions"]:
        names = [c["name"] for c in version.get("additionalPrinterColumns", [])]
        assert len(names) == len(set(names)), names
        assert not set(names) & set(CROSSPLANE_XR_COLUMNS), relative
        if claimed:
            assert not set(names) & set(CROSSPLANE_CLAIM_COLUMNS), relative
        paths = [c["jsonPath"] for c in version.get("additionalPrinterColumns", [])]
        assert ".metadata.creationTimestamp" not in paths, relative
