"""``put.put_ok``, the PUT_OK result most puts end with, and its compiled twin: equal
results, a real frozen PutMessageResult either way."""

from __future__ import annotations

import dataclasses

import pytest

from rocketq.common.speedups import REFERENCE
from rocketq.store.commit_log import AppendResult
from rocketq.store.result import PutMessageResult, PutMessageStatus
from tests.conftest import compiled_kernels


@pytest.mark.parametrize("count", [0, 1, 3])
def test_put_ok_twins(count: int) -> None:
    appended = tuple(AppendResult(i, 100, i, 5, f"ID{i}") for i in range(count))
    expected = PutMessageResult(PutMessageStatus.PUT_OK, appended)
    for put_ok in (REFERENCE["put_ok"], compiled_kernels("rocketq.store._kernels").put_ok):
        got = put_ok(appended)
        assert type(got) is PutMessageResult and got == expected
        assert got.appended is appended and got.remark == ""
        with pytest.raises(dataclasses.FrozenInstanceError):
            got.remark = "x"  # type: ignore[misc]
