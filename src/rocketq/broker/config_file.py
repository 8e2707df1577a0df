"""JSON config files kept by the broker under ``<store>/config/`` (RocketMQ ``ConfigManager``).

Each file is written as RocketMQ does: the new content goes to ``<file>.tmp``, the old file
becomes ``<file>.bak``, the temp file is renamed over the file. Loading falls back to the
``.bak`` copy when the file is missing, empty or corrupt.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from rocketq.common.errors import ProtocolError
from rocketq.remoting import fastjson

__all__ = ["ConfigFile"]

log = logging.getLogger("rocketq.broker")


class ConfigFile:
    """Base for a manager persisted as one JSON document."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # persist() runs from worker threads (periodic) and the loop (shutdown): one at a time.
        self._write_lock = threading.Lock()

    def encode(self) -> dict[str, Any]:
        """The document to write."""
        raise NotImplementedError

    def decode(self, obj: dict[str, Any]) -> None:
        """Take the state from a loaded document."""
        raise NotImplementedError

    def load(self) -> bool:
        """Load the file, else its ``.bak``; False when neither holds a document."""
        for candidate in (self.path, self.path.with_name(self.path.name + ".bak")):
            try:
                data = candidate.read_bytes()
            except FileNotFoundError:
                continue
            if not data.strip():
                continue
            try:
                obj = fastjson.loads(data)
                if not isinstance(obj, dict):
                    raise ProtocolError("not a JSON object")
                self.decode(obj)
            except (ProtocolError, ValueError, TypeError, KeyError) as exc:
                log.error("cannot load %s (%s); trying the backup", candidate, exc)
                continue
            return True
        return False

    def persist(self) -> None:
        """Write the document (temp file, keep the old one as ``.bak``, rename)."""
        data = fastjson.dumps(self.encode())
        with self._write_lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if self.path.exists():
            os.replace(self.path, self.path.with_name(self.path.name + ".bak"))
        os.replace(tmp, self.path)
