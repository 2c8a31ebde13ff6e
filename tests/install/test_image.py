"""The image renders charts with the Helm the tests render with: the `Dockerfile`'s Helm
binary is the version of the Helm SDK inside helm-python-sdk."""

import re
from pathlib import Path

import helm_python

REPO = Path(__file__).resolve().parents[2]


def test_the_image_installs_the_helm_the_tests_use() -> None:
    found = re.search(r"^ARG HELM_VERSION=(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert found, "the Dockerfile pins Helm with ARG HELM_VERSION"
    assert found[1] == helm_python.helm_sdk_version()
