"""The ``rocketq admin`` commands added for mqadmin 4.9.4 parity (issue 14) and ``--json`` on
every command, run in-process with click's CliRunner against real ``rocketq namesrv`` +
``rocketq broker`` processes; one ``python -m rocketq admin`` subprocess checks the real
entry point. A consumer that answers the broker's relayed requests is a raw RemotingClient
in a thread of its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from rocketq.cli import main
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.testing import BrokerProcess, NamesrvProcess, wait_until

# The 57 commands of mqadmin 4.9.4 (MQAdminStartup#initCommand).
MQADMIN_494 = [
    "updateTopic",
    "deleteTopic",
    "updateSubGroup",
    "deleteSubGroup",
    "updateBrokerConfig",
    "updateTopicPerm",
    "topicRoute",
    "topicStatus",
    "topicClusterList",
    "brokerStatus",
    "queryMsgById",
    "queryMsgByKey",
    "queryMsgByUniqueKey",
    "queryMsgByOffset",
    "queryMsgTraceById",
    "printMsg",
    "printMsgByQueue",
    "sendMsgStatus",
    "brokerConsumeStats",
    "producerConnection",
    "consumerConnection",
    "consumerProgress",
    "consumerStatus",
    "cloneGroupOffset",
    "producer",
    "clusterList",
    "topicList",
    "updateKvConfig",
    "deleteKvConfig",
    "wipeWritePerm",
    "addWritePerm",
    "resetOffsetByTime",
    "skipAccumulatedMessage",
    "updateOrderConf",
    "cleanExpiredCQ",
    "deleteExpiredCommitLog",
    "cleanUnusedTopic",
    "startMonitoring",
    "statsAll",
    "allocateMQ",
    "checkMsgSendRT",
    "clusterRT",
    "getNamesrvConfig",
    "updateNamesrvConfig",
    "getBrokerConfig",
    "getConsumerConfig",
    "queryCq",
    "sendMessage",
    "consumeMessage",
    "updateAclConfig",
    "deleteAclConfig",
    "clusterAclConfigVersion",
    "updateGlobalWhiteAddr",
    "getAclConfig",
    "exportMetadata",
    "exportConfigs",
    "exportMetrics",
]


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    root = tmp_path_factory.mktemp("admincli")
    with (
        NamesrvProcess(root / "ns") as ns,
        BrokerProcess(root / "broker", ns.addr, {"brokerName": "broker-c"}) as broker,
    ):
        yield ns, broker


def run(ns: NamesrvProcess, *args: str) -> Result:
    result = CliRunner().invoke(main, ["admin", args[0], "-n", ns.addr, *args[1:]])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def run_json(ns: NamesrvProcess, *args: str) -> object:
    result = run(ns, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


class ConsumerThread:
    """A consumer connection (heartbeat every 0.5 s) answering GET_CONSUMER_RUNNING_INFO and
    CONSUME_MESSAGE_DIRECTLY, on its own loop in a thread."""

    def __init__(self, broker_addr: str, group: str, topic: str) -> None:
        self.broker_addr, self.group, self.topic = broker_addr, group, topic
        self.loop = asyncio.new_event_loop()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    def _heartbeat(self) -> bytes:
        sub = {"subString": "*", "subVersion": 1, "topic": self.topic, "tagsSet": []}
        consumer = {
            "groupName": self.group,
            "consumeType": "CONSUME_PASSIVELY",
            "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
            "subscriptionDataSet": [sub],
            "unitMode": False,
        }
        return orjson.dumps({"clientID": "cli-cid", "consumerDataSet": [consumer]})

    @staticmethod
    def _info(conn: Connection, req: RemotingCommand) -> RemotingCommand:
        body = {
            "properties": {"PROP_CONSUME_TYPE": "CONSUME_PASSIVELY"},
            "subscriptionSet": [{"topic": "CliCT", "subString": "*"}],
            "mqTable": {},
            "statusTable": {},
        }
        return req.make_response(body=orjson.dumps(body))

    @staticmethod
    def _direct(conn: Connection, req: RemotingCommand) -> RemotingCommand:
        body = {"order": False, "autoCommit": True, "consumeResult": "CR_SUCCESS"}
        return req.make_response(body=orjson.dumps({**body, "spentTimeMills": 2}))

    async def _run(self) -> None:
        table = ProcessorTable()
        table.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self._info)
        table.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self._direct)
        client = RemotingClient(table)
        try:
            while not self.stop.is_set():
                cmd = RemotingCommand.request(RequestCode.HEART_BEAT, None, self._heartbeat())
                await client.invoke(self.broker_addr, cmd, 5.0)
                await asyncio.sleep(0.5)
        finally:
            await client.aclose()

    def __enter__(self) -> ConsumerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.loop.close()


def test_every_mqadmin_494_command_exists_and_takes_json() -> None:
    result = CliRunner().invoke(main, ["admin", "--help"])
    listed = {
        line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()
    }
    assert set(MQADMIN_494) <= listed
    for name in MQADMIN_494:
        help_text = CliRunner().invoke(main, ["admin", name, "--help"]).output
        assert "--json" in help_text, name


def test_json_on_the_older_commands(cluster: tuple[NamesrvProcess, BrokerProcess]) -> None:
    ns, broker = cluster
    info = run_json(ns, "clusterList")
    assert isinstance(info, list) and info[0]["clusterAddrTable"] == {
        "DefaultCluster": ["broker-c"]
    }
    assert "TBW102" in run_json(ns, "topicList")  # type: ignore[operator]
    run(ns, "updateTopic", "-b", broker.addr, "-t", "CliJ", "-r", "1", "-w", "1")
    wait_until(lambda: run(ns, "topicRoute", "-t", "CliJ").exit_code == 0)
    stats = run_json(ns, "topicStatus", "-t", "CliJ")
    assert isinstance(stats, dict) and len(stats) == 1


def test_consumer_commands(
    cluster: tuple[NamesrvProcess, BrokerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, broker = cluster
    run(ns, "updateTopic", "-b", broker.addr, "-t", "CliCT", "-r", "2", "-w", "2")
    wait_until(lambda: run(ns, "topicRoute", "-t", "CliCT").exit_code == 0)
    sent = run_json(ns, "sendMessage", "-t", "CliCT", "-p", "hello", "-k", "k1")
    with ConsumerThread(broker.addr, "CliCG", "CliCT"):
        wait_until(lambda: run(ns, "topicRoute", "-t", "%RETRY%CliCG").exit_code == 0)
        out = run(ns, "consumerConnection", "-g", "CliCG").output
        assert "cli-cid" in out and "MessageModel: CLUSTERING" in out
        monkeypatch.chdir(tmp_path)  # consumerStatus writes <now>/<clientId> files, as mqadmin
        status = run(ns, "consumerStatus", "-g", "CliCG")
        assert "#ConsumerRunningInfoFile" in status.output and "Rebalance OK" in status.output
        assert list(tmp_path.glob("*/cli-cid"))
        one = run(ns, "consumerStatus", "-g", "CliCG", "-i", "cli-cid").output
        assert "#Consumer Properties#" in one and "PROP_CONSUME_TYPE" in one
        uniq = sent["msg_id"] if isinstance(sent, dict) else ""
        direct = run(
            ns, "queryMsgByUniqueKey", "-t", "CliCT", "-i", uniq, "-g", "CliCG", "-d", "cli-cid"
        ).output
        assert "Message Body:        hello" in direct and "consumeResult=CR_SUCCESS" in direct
    stats = run(ns, "brokerConsumeStats", "-b", broker.addr).output
    assert stats.startswith("#Topic") and "Diff Total:" in stats
    assert run(ns, "statsAll", "-t", "CliCT").output.startswith("#Topic")
    rows = run_json(ns, "statsAll", "-t", "CliCT")
    assert isinstance(rows, list) and rows and all(r["topic"] == "CliCT" for r in rows)
    producers = run_json(ns, "producer", "-b", broker.addr)
    assert isinstance(producers, dict)
    out = run(ns, "cloneGroupOffset", "-s", "CliCG", "-d", "CliCG2", "-t", "CliCT", "-o", "true")
    assert "clone group offset success." in out.output
    alloc = run_json(ns, "allocateMQ", "-t", "CliCT", "-i", "a,b")
    assert [len(v) for v in alloc["result"].values()] == [1, 1]  # type: ignore[index]


def test_broker_commands(cluster: tuple[NamesrvProcess, BrokerProcess], tmp_path: Path) -> None:
    ns, broker = cluster
    run(ns, "updateTopic", "-b", broker.addr, "-t", "CliBT", "-r", "1", "-w", "1")
    wait_until(lambda: run(ns, "topicRoute", "-t", "CliBT").exit_code == 0)
    run(ns, "sendMessage", "-t", "CliBT", "-p", "cq-entry", "-c", "TagZ")
    cq = run(ns, "queryCq", "-t", "CliBT", "-q", "0", "-i", "0", "-c", "5").output
    assert "max: 1, min: 0" in cq and "idx: 0\nConsumeQueueData{physicOffset=" in cq
    for name in ("cleanExpiredCQ", "deleteExpiredCommitLog", "cleanUnusedTopic"):
        assert run(ns, name, "-c", "DefaultCluster").output == "success"
        assert run_json(ns, name, "-b", broker.addr) == {broker.addr: True}
    assert run(ns, "topicClusterList", "-t", "CliBT").output.strip() == "DefaultCluster"
    by_queue = run(
        ns,
        "printMsgByQueue",
        "-t",
        "CliBT",
        "-a",
        "broker-c",
        "-i",
        "0",
        "-p",
        "true",
        "-d",
        "true",
        "-f",
        "true",
    )
    assert "BODY: cq-entry" in by_queue.output and "Tag: TagZ" in by_queue.output
    assert "BODY: cq-entry" in run(ns, "printMsg", "-t", "CliBT").output
    put = run(ns, "updateOrderConf", "-t", "CliBT", "-m", "put", "-v", "broker-c:1").output
    assert put == "update orderConf success. topic=[CliBT], orderConf=[broker-c:1]"
    assert "orderConf=[broker-c:1]" in run(ns, "updateOrderConf", "-t", "CliBT", "-m", "get").output
    rt = run_json(ns, "checkMsgSendRT", "-t", "CliBT", "-a", "2", "-s", "16")
    assert [r["ok"] for r in rt] == [True, True]  # type: ignore[union-attr]
    sent = run(ns, "sendMsgStatus", "-b", "broker-c", "-c", "1").output
    assert "SendResult [sendStatus=SEND_OK" in sent
    assert "broker-c" in run(ns, "clusterRT", "-a", "2", "--rounds", "1").output
    for name in ("exportMetadata", "exportConfigs", "exportMetrics"):
        out = run(ns, name, "-c", "DefaultCluster", "-f", str(tmp_path)).output
        assert out.startswith("export ") and out.strip().endswith("success")
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert "CliBT" in meta["topicConfigTable"] and "TBW102" not in meta["topicConfigTable"]
    acl = run(ns, "getAclConfig", "-c", "DefaultCluster")
    assert acl.exit_code == 1 and "ACL is not enabled" in acl.output
    monitor = run(ns, "startMonitoring", "--rounds", "1")
    assert monitor.exit_code == 0
    perm = run(ns, "updateTopicPerm", "-t", "CliBT", "-p", "4", "-b", broker.addr).output
    assert f"update topic perm from 6 to 4 in {broker.addr} success." in perm
    rt_fail = run(ns, "checkMsgSendRT", "-t", "CliBT", "-a", "1")
    assert rt_fail.exit_code == 1 and "no writable queue of CliBT" in rt_fail.output


def test_the_entry_point_takes_json(cluster: tuple[NamesrvProcess, BrokerProcess]) -> None:
    ns, broker = cluster
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rocketq",
            "admin",
            "cleanExpiredCQ",
            "-n",
            ns.addr,
            "-b",
            broker.addr,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and json.loads(out.stdout) == {broker.addr: True}
