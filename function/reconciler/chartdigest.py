"""Content digests of fetched charts: archives as repository indexes give them, directories by
every file, and a cheap signature that says when a local chart directory must be hashed again.

`function.reconciler.charts` caches charts by these digests; they also enter an add-on's input
hash, so a changed chart is rendered and applied again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file: for a chart archive, the digest repository indexes carry."""
    with path.open("rb") as data:
        return f"sha256:{hashlib.file_digest(data, 'sha256').hexdigest()}"


Signature = tuple[tuple[str, int, int], ...]


def _files(directory: Path) -> list[Path]:
    found = [Path(root, name) for root, _, names in os.walk(directory) for name in names]
    return sorted(found)


def signature_of(directory: Path) -> Signature:
    """Path, size and modification time of every file: cheap to read, changes on any edit."""
    signature = []
    for path in _files(directory):
        stat = path.stat()
        signature.append((path.as_posix(), stat.st_size, stat.st_mtime_ns))
    return tuple(signature)


def directory_digest(directory: Path) -> str:
    """``sha256:<hex>`` over the relative paths and contents of every file under ``directory``."""
    digest = hashlib.sha256()
    for path in _files(directory):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"sha256:{digest.hexdigest()}"
