"""``--json`` on the older ``rocketq admin`` commands prints the whole result (every broker,
every message), not the first part or the text layout followed by ``null``: two
``rocketq broker`` processes of one cluster, the commands run through click's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rocketq.cli import main
from rocketq.testing import BrokerProcess, NamesrvProcess, wait_until

TOPIC = "JsonT"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    root: Path = tmp_path_factory.mktemp("adminjson")
    with (
        NamesrvProcess(root / "ns") as ns,
        BrokerProcess(root / "b1", ns.addr, {"brokerName": "json-a"}) as b1,
        BrokerProcess(root / "b2", ns.addr, {"brokerName": "json-b"}) as b2,
    ):
        yield ns.addr, sorted([b1.addr, b2.addr])


def run(ns: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["admin", args[0], "-n", ns, *args[1:]])
    assert result.exit_code == 0, result.output
    return result


def run_json(ns: str, *args: str) -> Any:
    return json.loads(run(ns, *args, "--json").output)


def test_json_prints_every_result(cluster: tuple[str, list[str]]) -> None:
    ns, brokers = cluster
    assert run_json(ns, "updateTopic", "-c", "DefaultCluster", "-t", TOPIC, "-r", "1", "-w", "1")
    wait_until(lambda: len(run_json(ns, "topicRoute", "-t", TOPIC)["brokerDatas"]) == 2)
    sent = [
        run_json(ns, "sendMessage", "-t", TOPIC, "-p", f"body-{b}", "-b", b, "-i", "0")
        for b in ("json-a", "json-b")
    ]
    consumed = run_json(ns, "consumeMessage", "-t", TOPIC)
    assert sorted(q["messageQueue"]["brokerName"] for q in consumed) == ["json-a", "json-b"]
    bodies = sorted(m["body"] for q in consumed for m in q["messages"])
    assert bodies == ["body-json-a", "body-json-b"]
    assert all(q["status"] == "NO_NEW_MSG" for q in consumed)
    text = run(ns, "consumeMessage", "-t", TOPIC).output
    assert text.count("MSGID: ") == 2 and text.count("print msg finished") == 2

    ids = ",".join(s["offset_msg_id"] for s in sent)
    assert len(run_json(ns, "queryMsgById", "-i", ids)) == 2
    assert sorted(run_json(ns, "brokerStatus", "-c", "DefaultCluster")) == brokers
    assert sorted(run_json(ns, "getBrokerConfig", "-c", "DefaultCluster")) == brokers
    ha = run_json(ns, "haStatus", "-c", "DefaultCluster")
    assert sorted(ha) == brokers and all(v["master"] for v in ha.values())

    deleted = run_json(ns, "deleteTopic", "-t", TOPIC, "-c", "DefaultCluster")
    assert deleted == {
        "topic": TOPIC,
        "cluster": "DefaultCluster",
        "brokers": brokers,
        "namesrv": True,
    }
    text = run(ns, "deleteTopic", "-t", TOPIC, "-c", "DefaultCluster").output
    assert "from cluster [DefaultCluster] success." in text and "NameServer success." in text
