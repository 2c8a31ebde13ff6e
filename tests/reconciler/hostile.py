"""Running one hostile add-on beside healthy work, for the catalogues of Lua and template attacks.

Each attempt runs twice at once with healthy work: through the reconciler (a bundle holding
the hostile add-on must report it Failed with a clear message, while an update of a healthy
bundle on the same cluster reaches the workload cluster), and directly in the sandbox on a
thread of its own (the same clear error, while a healthy template renders on another thread),
which measures how long the attempt ran before it was stopped. The times are collected in a
`Report` and printed as a table at the end of the catalogue; no test asserts them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from function.errors import SourceLocation
from function.reconciler.templates import TemplateContext, render_template
from tests.reconciler.harness import (
    Harness,
    addon_phases,
    bundle,
    configmap_addon,
    eventually,
    first_message,
)

HEALTHY_TEMPLATE = "name: {{ cluster.metadata.name }}\nitems: {{ range(3)|list }}\n"
HEALTHY_CONTEXT = TemplateContext(cluster={"metadata": {"name": "healthy", "namespace": "t"}})


@dataclass(frozen=True)
class Attempt:
    """One hostile add-on and the fragments of the errors it may be stopped with (a bomb may
    meet the wall-clock limit first on a loaded machine)."""

    name: str
    addon: dict[str, Any]
    expected: tuple[str, ...]
    direct: Callable[[], None]
    """The attempt run straight in the sandbox; must raise."""


@dataclass
class Report:
    """How long each attempt ran before it was stopped."""

    title: str
    rows: list[tuple[str, float, str]] = field(default_factory=list)

    def print(self) -> None:
        """The table, slowest first."""
        print(f"\n{self.title}: time to stop each attempt (direct, beside a healthy render)")
        for name, seconds, message in sorted(self.rows, key=lambda r: -r[1]):
            print(f"  {seconds * 1000:9.1f} ms  {name:<34} {message[:90]}")


def _timed(run: Callable[[], None]) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        run()
    except Exception as err:
        return time.perf_counter() - start, str(err)
    raise AssertionError("the attempt was not stopped")


async def stop_beside_healthy_work(
    h: Harness, index: int, attempt: Attempt, report: Report
) -> None:
    """Run ``attempt`` through the reconciler and directly, each beside healthy work."""
    workload = h.workload("c1")
    value = f"v{index}"
    h.mgmt.apply(bundle(f"evil-{index}", [attempt.addon]), field_manager="test")
    h.mgmt.apply(bundle("healthy", [configmap_addon("healthy", data=value)]), field_manager="test")
    direct, rendered = await asyncio.gather(
        asyncio.to_thread(_timed, attempt.direct),
        asyncio.to_thread(
            render_template, HEALTHY_TEMPLATE, HEALTHY_CONTEXT, SourceLocation("healthy", "t")
        ),
    )
    seconds, direct_message = direct
    assert any(e in direct_message for e in attempt.expected), (attempt.name, direct_message)
    assert rendered == "name: healthy\nitems: [0, 1, 2]\n"

    evil = await h.wait_bundle(
        f"evil-{index}", lambda b: addon_phases(b).get(attempt.addon["name"]) == "Failed"
    )
    message = first_message(evil) or ""
    assert message.startswith(f"add-on {attempt.addon['name']!r}, "), (attempt.name, message)
    assert any(e in message for e in attempt.expected), (attempt.name, message)

    def healthy_reconciled() -> bool:
        found = workload.find("v1", "ConfigMap", "healthy", "apps")
        return found is not None and found["data"]["value"] == value

    await eventually(healthy_reconciled, within=15, what=f"the healthy update {value}")
    report.rows.append((attempt.name, seconds, direct_message))
