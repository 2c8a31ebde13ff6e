"""`make demo`: run the product on the built-in examples and print what it does."""

from __future__ import annotations

from pathlib import Path

import yaml

from function.model.bundle import dependency_order, parse_bundle_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main() -> None:
    """Parse the example bundle and print the order its add-ons are applied in."""
    doc = yaml.safe_load((EXAMPLES / "bundles" / "inference.yaml").read_text())
    spec = parse_bundle_spec(doc["spec"])
    print(f"AddonBundle {doc['metadata']['namespace']}/{doc['metadata']['name']}:")
    for step, addon in enumerate(dependency_order(spec.addons), start=1):
        after = f" (after {', '.join(addon.depends_on)})" if addon.depends_on else ""
        print(f"  {step}. {addon.name}{after}")


if __name__ == "__main__":
    main()
