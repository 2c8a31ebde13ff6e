"""Fault injection for one cluster: failing, throttled and slow requests, dropped watches, outages.

Tests describe faults from any thread; the HTTP server consults them for every request on the
fleet's loop. A `FaultRule` matches requests by verb (`get`, `list`, `watch`, `create`,
`update`, `patch`, `apply`, `delete`, `deletecollection`, or `discovery` for `/api`, `/apis`
and `/version`), kind, namespace and name, fires for the next ``times`` matching requests (or
forever with ``times=None``), and then fails them with a status (500, 503, 429 with
`Retry-After`, ...) and/or delays them. `Faults.drop_watches` ends open watch streams the way a
broken connection would; `Faults.offline` closes the cluster's port so that clients get
*connection refused* until it comes back. `server` evaluates the rules; `cluster` exposes them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from function.testing.status import StatusError, from_code


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a fault rule can match on."""

    verb: str
    kind: str
    namespace: str
    name: str


@dataclass
class FaultRule:
    """One injected fault. ``hits`` counts the requests it has affected."""

    status: int | None = None
    delay: float = 0.0
    times: int | None = 1
    verb: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    retry_after: int | None = None
    message: str = "injected fault"
    hits: int = 0

    def matches(self, request: RequestInfo) -> bool:
        """Whether this rule applies to a request (unset filters match anything)."""
        return (
            (self.verb is None or self.verb == request.verb)
            and (self.kind is None or self.kind == request.kind)
            and (self.namespace is None or self.namespace == request.namespace)
            and (self.name is None or self.name == request.name)
        )

    @property
    def exhausted(self) -> bool:
        """Whether the rule has fired as often as asked."""
        return self.times is not None and self.hits >= self.times


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do to a request: wait ``delay`` seconds, then fail with ``error`` if set."""

    delay: float = 0.0
    error: StatusError | None = None


class Faults:
    """The faults of one cluster (thread-safe)."""

    def __init__(
        self,
        drop_watches: Callable[[str | None], int],
        set_online: Callable[[bool], None],
    ) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._drop_watches = drop_watches
        self._set_online = set_online

    def fail(
        self,
        status: int = 500,
        *,
        times: int | None = 1,
        verb: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        retry_after: int | None = None,
        message: str = "injected fault",
    ) -> FaultRule:
        """Fail the next ``times`` matching requests with ``status``."""
        rule = FaultRule(status, 0.0, times, verb, kind, namespace, name, retry_after, message)
        return self._add(rule)

    def throttle(
        self,
        *,
        retry_after: int = 1,
        times: int | None = 1,
        verb: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> FaultRule:
        """Answer the next ``times`` matching requests with 429 and `Retry-After`."""
        return self.fail(
            429,
            times=times,
            verb=verb,
            kind=kind,
            namespace=namespace,
            name=name,
            retry_after=retry_after,
        )

    def slow(
        self,
        seconds: float,
        *,
        times: int | None = None,
        verb: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` (forever unless ``times`` is given)."""
        rule = FaultRule(None, seconds, times, verb, kind, namespace, name)
        return self._add(rule)

    def drop_watches(self, kind: str | None = None) -> int:
        """End every open watch (of ``kind`` if given) now; returns how many were dropped."""
        return self._drop_watches(kind)

    def set_offline(self, offline: bool = True) -> None:
        """Take the cluster's API offline (connection refused) or bring it back."""
        self._set_online(not offline)

    @contextmanager
    def offline(self) -> Iterator[None]:
        """Keep the cluster offline for the duration of a ``with`` block."""
        self.set_offline(True)
        try:
            yield
        finally:
            self.set_offline(False)

    def remove(self, rule: FaultRule) -> None:
        """Withdraw one rule."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Withdraw every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """The active rules."""
        with self._lock:
            return list(self._rules)

    def _add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def judge(self, request: RequestInfo) -> Verdict:
        """Consume the rules that match a request and say what to do to it."""
        delay = 0.0
        error: StatusError | None = None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(request) or (error is not None and rule.status is not None):
                    continue
                rule.hits += 1
                delay += rule.delay
                if rule.status is not None:
                    error = from_code(rule.status, rule.message, rule.retry_after)
                if rule.exhausted:
                    self._rules.remove(rule)
        return Verdict(delay, error)
