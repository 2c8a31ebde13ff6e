"""What happened to a cluster, for tests to assert on: its writes and its requests.

`WriteLog` records every write that changed an object (no-op applies and updates are not writes
and are not recorded; dry runs neither): verb (`create`, `update`, `patch`, `apply`, `delete`),
apiVersion/kind, namespace, name, field manager, the resulting resourceVersion, the subresource,
the time and the User-Agent of the request that made it (empty for writes from inside the
emulator), so a test can tell apart two processes writing as one field manager. `RequestLog`
records every request the HTTP server answered (verb, kind, name, status code, User-Agent,
body size), including reads and refused requests. Both are bounded, filterable and numbered in
the order they were recorded, and a `mark()` lets a test look only at what came after it ("a
second reconcile wrote nothing").
`apiserver` appends writes, `server` appends requests; tests read them through `cluster`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

CLIENT: ContextVar[str] = ContextVar("client", default="")
"""The User-Agent of the request being served (set by `server` around each request)."""


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One effective write."""

    seq: int
    time: float
    verb: str
    api_version: str
    kind: str
    namespace: str
    name: str
    field_manager: str
    resource_version: str
    subresource: str = ""
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One answered HTTP request (``kind`` is empty for discovery)."""

    seq: int
    time: float
    verb: str
    api_version: str
    kind: str
    namespace: str
    name: str
    subresource: str
    code: int
    user_agent: str = ""
    size: int = 0
    """Bytes of the request's body."""


Record = TypeVar("Record", WriteRecord, RequestRecord)


class _Log(Generic[Record]):
    """A bounded, thread-safe, filterable sequence of records."""

    def __init__(self, limit: int = 100_000) -> None:
        self._records: deque[Record] = deque(maxlen=limit)
        self._seq = 0
        self._lock = threading.Lock()

    def _record(self, make: Callable[..., Record], **fields: object) -> None:
        """Append ``make(**fields)`` stamped with the next sequence number, the time and the
        User-Agent of the request being served; sequence numbers follow the records' order."""
        with self._lock:
            self._seq += 1
            self._records.append(
                make(seq=self._seq, time=time.time(), user_agent=CLIENT.get(), **fields)
            )

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def records(self) -> list[Record]:
        """A snapshot of every kept record, oldest first."""
        with self._lock:
            return list(self._records)

    def mark(self) -> int:
        """A position to pass to ``since=`` later."""
        with self._lock:
            return self._seq

    def filter(self, *, since: int = 0, **match: object) -> list[Record]:
        """Records after ``since`` whose fields equal every given value.

        Example: ``log.filter(verb="apply", kind="Deployment", field_manager="aifleet")``.
        """
        names = {f.name for f in fields(WriteRecord)} | {f.name for f in fields(RequestRecord)}
        unknown = set(match) - names
        if unknown:
            raise TypeError(f"unknown record fields: {sorted(unknown)}")
        return [
            r
            for r in self.records
            if r.seq > since and all(getattr(r, k, None) == v for k, v in match.items())
        ]

    def count(self, *, since: int = 0, **match: object) -> int:
        """How many records match (see `filter`)."""
        return len(self.filter(since=since, **match))

    def clear(self) -> None:
        """Forget every record (sequence numbers keep growing)."""
        with self._lock:
            self._records.clear()


class WriteLog(_Log[WriteRecord]):
    """Effective writes to one cluster."""

    def add(
        self,
        *,
        verb: str,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        field_manager: str,
        resource_version: str,
        subresource: str = "",
    ) -> None:
        """Record a write."""
        self._record(
            WriteRecord,
            verb=verb,
            api_version=api_version,
            kind=kind,
            namespace=namespace,
            name=name,
            field_manager=field_manager,
            resource_version=resource_version,
            subresource=subresource,
        )

    def names(self, *, since: int = 0, **match: object) -> list[str]:
        """``kind/namespace/name`` of matching writes, in order: handy for order assertions."""
        return [
            f"{r.kind}/{r.namespace}/{r.name}" if r.namespace else f"{r.kind}/{r.name}"
            for r in self.filter(since=since, **match)
        ]


class RequestLog(_Log[RequestRecord]):
    """Requests answered by one cluster's HTTP server."""

    def add(
        self,
        *,
        verb: str,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        subresource: str,
        code: int,
        size: int = 0,
    ) -> None:
        """Record a request (``size``: bytes of its body)."""
        self._record(
            RequestRecord,
            verb=verb,
            api_version=api_version,
            kind=kind,
            namespace=namespace,
            name=name,
            subresource=subresource,
            code=code,
            size=size,
        )
