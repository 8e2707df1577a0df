"""Generate the protobuf modules of rocketq's gRPC schema with grpcio-tools.

The ``.proto`` files beside this module are rocketq's own statement of RocketMQ 5's wire
schema (``apache.rocketmq.v2``). Their Python modules (``definition_pb2``, ``service_pb2``
and ``.pyi`` type stubs) are not kept in git: the wheel build runs :func:`generate` (the
hatch hook in ``hatch_build.py``), and :func:`ensure_generated` runs it on first import
when the modules are missing or older than their ``.proto`` (a source checkout).

No gRPC service stubs are generated: the server registers its handlers with grpcio's
generic handler API, so only the message classes are needed.

This module imports nothing of rocketq, so the build hook can load it by path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["PROTO_FILES", "ensure_generated", "generate", "is_missing", "is_stale"]

HERE = Path(__file__).resolve().parent
# The include root: the protos import each other as "rocketq/broker/grpc/v2/<name>.proto",
# so the generated modules import each other as ``rocketq.broker.grpc.v2.<name>_pb2``.
SRC_ROOT = HERE.parents[3]
PROTO_FILES = ("definition.proto", "service.proto")
PYI_HEADER = '# mypy: disable-error-code="type-arg"\n'


def _outputs(proto: str) -> tuple[Path, Path]:
    stem = proto.removesuffix(".proto")
    return HERE / f"{stem}_pb2.py", HERE / f"{stem}_pb2.pyi"


def is_missing() -> bool:
    """True when a generated module is missing."""
    return any(not out.exists() for proto in PROTO_FILES for out in _outputs(proto))


def is_stale() -> bool:
    """True when a generated module is missing or older than its ``.proto``."""
    for proto in PROTO_FILES:
        source = (HERE / proto).stat().st_mtime
        for out in _outputs(proto):
            if not out.exists() or out.stat().st_mtime < source:
                return True
    return False


def generate() -> list[Path]:
    """Run protoc (from grpcio-tools) on the schema; return the files written."""
    try:
        from grpc_tools import protoc  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError(
            "rocketq's gRPC modules are not generated and grpcio-tools is not installed: "
            "pip install grpcio-tools, or reinstall rocketq (its build generates them)"
        ) from exc
    import importlib.resources

    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    rel = HERE.relative_to(SRC_ROOT)
    args = [
        "protoc",
        f"-I{SRC_ROOT}",
        f"-I{well_known}",
        f"--python_out={SRC_ROOT}",
        f"--pyi_out={SRC_ROOT}",
        *(str(rel / proto) for proto in PROTO_FILES),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {', '.join(PROTO_FILES)} in {HERE}")
    for proto in PROTO_FILES:
        _stub, pyi = _outputs(proto)
        # protoc's stubs leave Mapping unparametrised, which mypy --strict reports.
        pyi.write_text(PYI_HEADER + pyi.read_text())
    return [out for proto in PROTO_FILES for out in _outputs(proto)]


def ensure_generated() -> None:
    """Generate the modules when they are missing, or stale and grpcio-tools is at hand
    (a source checkout whose ``.proto`` changed)."""
    if is_missing() or (is_stale() and importlib.util.find_spec("grpc_tools") is not None):
        generate()


if __name__ == "__main__":
    for path in generate():
        print(path)
    sys.exit(0)
