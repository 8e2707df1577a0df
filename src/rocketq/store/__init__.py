"""The message store: CommitLog, ConsumeQueue and IndexFile with RocketMQ's byte layouts."""

from __future__ import annotations

__all__: list[str] = []
