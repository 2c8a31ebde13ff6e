"""The reconciler's log lines: one per thing a person follows, readable or JSON.

`configure` sends every stdlib log record through structlog's formatter, so that the fields a
call site passes in ``extra`` (bundle, cluster, add-on, phase, reason, generation) become keys
of a JSON object per line (``--log-format json``) or ``key=value`` pairs after a readable
message (the default). `target_started` and `target_progress` are the lines of a target's work:
when it starts applying a bundle generation, each add-on phase transition (a failure at
WARNING with its reason and message), and when it has finished. Log lines carry names,
phases and messages only: never an object's body, so never Secret data.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from function.model.bundlestatus import READY_PHASES, AddonPhase, ClusterAddonsStatus
from function.reconciler.failures import FAILURE_REASONS

log = logging.getLogger("function.reconciler.targets")

FORMATS = ("text", "json")


def formatter(fmt: str) -> logging.Formatter:
    """A formatter rendering records with their ``extra`` fields, as text or JSON lines."""
    pre_chain: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    last: list[Any]
    if fmt == "json":
        last = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer(to="msg"),
            structlog.processors.JSONRenderer(),
        ]
    else:
        last = [structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last],
    )


def configure(fmt: str, *, debug: bool) -> None:
    """Log every record to stderr in ``fmt`` (``text`` or ``json``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def target_started(bundle: str, cluster: str, generation: int) -> None:
    """A target starts applying a generation of its bundle."""
    log.info(
        "target started applying",
        extra={"bundle": bundle, "cluster": cluster, "generation": generation},
    )


def target_progress(
    bundle: str,
    cluster: str,
    generation: int,
    old: ClusterAddonsStatus | None,
    new: ClusterAddonsStatus,
    *,
    was_finished: bool,
) -> bool:
    """Log each add-on phase transition from ``old`` to ``new``, and the target's finish;
    whether the target is finished (every add-on ready or failed)."""
    before = {a.name: (a.phase, a.reason) for a in (old.addons if old else [])}
    for addon in new.addons:
        if before.get(addon.name) == (addon.phase, addon.reason):
            continue
        failing = addon.phase is AddonPhase.FAILED or addon.reason in FAILURE_REASONS
        log.log(
            logging.WARNING if failing else logging.INFO,
            "add-on %s",
            addon.phase.value,
            extra={
                "bundle": bundle,
                "cluster": cluster,
                "addon": addon.name,
                "phase": addon.phase.value,
                "from": before[addon.name][0].value if addon.name in before else None,
                "reason": addon.reason,
                "cause": addon.message if failing else None,
            },
        )
    done = READY_PHASES | {AddonPhase.FAILED}
    finished = bool(new.addons) and all(a.phase in done for a in new.addons)
    if finished and not was_finished:
        failed = [a.name for a in new.addons if a.phase is AddonPhase.FAILED]
        log.log(
            logging.WARNING if failed else logging.INFO,
            "target finished applying",
            extra={
                "bundle": bundle,
                "cluster": cluster,
                "generation": generation,
                "ready": new.ready,
                "failed": failed or None,
            },
        )
    return finished
