"""Hatch build hook: generate the protobuf modules of rocketq's gRPC schema
(``src/rocketq/broker/grpc/v2``) before the wheel (or editable install) is built."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GENERATOR = Path(__file__).parent / "src" / "rocketq" / "broker" / "grpc" / "v2" / "generate.py"


class ProtoBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Runs ``generate.py`` (grpcio-tools' protoc) on the ``.proto`` files."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Generate ``*_pb2.py``/``*_pb2.pyi`` next to the ``.proto`` files."""
        spec = importlib.util.spec_from_file_location("_rocketq_proto_generate", GENERATOR)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for path in module.generate():
            self.app.display_info(f"generated {path.name}")
