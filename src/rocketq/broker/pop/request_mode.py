"""How each consumer group reads each topic, PULL or POP (RocketMQ 5's
``MessageRequestModeManager``), set by SET_MESSAGE_REQUEST_MODE and persisted in
``<storePathRootDir>/config/messageRequestMode.json`` as fastjson writes the manager:
``{"messageRequestModeMap": {topic: {group: SetMessageRequestModeRequestBody}}}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rocketq.broker.config_file import ConfigFile
from rocketq.remoting import fastjson
from rocketq.remoting.pop_body import (
    MessageRequestModeSerializeWrapper,
    SetMessageRequestModeRequestBody,
)

__all__ = ["MESSAGE_REQUEST_MODE_FILE", "MessageRequestModeManager"]

# BrokerPathConfigHelper.getMessageRequestModePath: the file under <root>/config/.
MESSAGE_REQUEST_MODE_FILE = "messageRequestMode.json"


class MessageRequestModeManager(ConfigFile):
    """topic -> group -> request mode, one JSON file."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.table = MessageRequestModeSerializeWrapper()

    def encode(self) -> dict[str, Any]:
        return self.table.to_obj()

    def decode(self, obj: dict[str, Any]) -> None:
        self.table = MessageRequestModeSerializeWrapper.from_obj(obj)

    def table_json(self) -> bytes:
        """The file's content (GET_ALL_MESSAGE_REQUEST_MODE's answer)."""
        return fastjson.dumps(self.encode())

    def get(self, topic: str, group: str) -> SetMessageRequestModeRequestBody | None:
        """The mode set for ``group`` on ``topic``, None when never set."""
        return self.table.message_request_mode_map.get(topic, {}).get(group)

    def set(self, mode: SetMessageRequestModeRequestBody) -> None:
        """Remember ``mode`` for its topic and group (:meth:`persist` writes the file)."""
        self.table.message_request_mode_map.setdefault(mode.topic, {})[mode.consumer_group] = mode
