"""The in-memory repository (tests/support/memory.py) answers as the DynamoDB one does (moto here).

The same steps run against both; every answer and the items they leave must be equal,
so the domain unit tests on the fake test what runs on DynamoDB.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared import checkpoints, repository, table
from shared.repository import Delete, Put
from shared.retry import ConditionFailed
from shared.rollups import CellDelta, Totals
from tests.support.memory import MemoryTable

SHARD = "shard-9"


@pytest.fixture(params=["dynamodb", "memory"])
def repo(request):
    if request.param == "memory":
        yield MemoryTable()
    else:
        request.getfixturevalue("aws")
        yield repository.Dynamo()


def delta(cost: str, events: int = 1, **attributes: str) -> CellDelta:
    return CellDelta(attributes, Totals(cost_usd=Decimal(cost), events=events, input_tokens=10 * events))


def part(n: int, parts: int, first: str = "001", last: str = "009", **later) -> checkpoints.BatchPart:
    return checkpoints.BatchPart(
        shard_id=SHARD, part=n, parts=parts, first=first, last=last,
        deltas={("CELL#x", f"k{n}"): delta(f"0.{n}", n, name=f"part{n}")}, through="2026-11-20T10:00:00.000000Z",
        applied_at="2026-11-20T10:00:01.000000Z", expires_at=1_900_000_000, records=4,
        later_parts=[{("CELL#x", f"k{k}"): delta(f"0.{k}", k, name=f"part{k}")} for k in range(2, parts + 1)]
        if n == 1 else [], touched="[]")


def test_puts_updates_and_multi_item_writes_keep_dynamodb_conditions(repo):
    k = table.key("P#1", "S#1")
    assert repo.put({**k, "n": 1, "name": "a"}, if_absent=True) is True
    assert repo.put({**k, "n": 2}, if_absent=True) is False
    assert repo.get(k) == {**k, "n": Decimal(1), "name": "a"}
    assert repo.put_event({**k, "n": 3}) == {**k, "n": Decimal(1), "name": "a"}
    assert repo.update(k, {"name": "b"}, if_equal=("n", 2)) is None
    assert repo.update(k, {"name": "b"}, if_equal=("n", 1)) == {**k, "n": Decimal(1), "name": "b"}
    assert repo.update(table.key("P#1", "S#new"), {"v": "x"}) == {**table.key("P#1", "S#new"), "v": "x"}
    with pytest.raises(ConditionFailed):
        repo.write_all([Put({**table.key("P#1", "S#2"), "x": 1}), Delete(k, if_equal=("name", "a"))])
    assert repo.get(table.key("P#1", "S#2")) is None and repo.get(k) is not None
    repo.write_all([Put({**table.key("P#1", "S#2"), "x": 1}, if_absent=True), Delete(k, if_equal=("name", "b"))])
    assert repo.get(k) is None and repo.get(table.key("P#1", "S#2"))["x"] == 1
    with pytest.raises(ConditionFailed):
        repo.write_all([Put({**table.key("P#1", "S#2"), "x": 2}, if_absent=True)])


def test_queries_walk_one_partition_in_sort_order(repo):
    for sk in ("b#2", "a#1", "b#1", "c#1"):
        repo.put({**table.key("P#q", sk), "GSI2PK": "L#q", "GSI2SK": sk[::-1], "v": sk})
    repo.put({**table.key("P#other", "a#0"), "v": "no"})
    assert [i["SK"] for i in repo.query("P#q")] == ["a#1", "b#1", "b#2", "c#1"]
    assert [i["SK"] for i in repo.query("P#q", sk_prefix="b#", forward=False)] == ["b#2", "b#1"]
    assert [i["SK"] for i in repo.query("P#q", sk_between=("a#5", "b#1"))] == ["b#1"]
    assert list(repo.query("P#q", sk_prefix="a", attributes=["v"])) == [{"v": "a#1"}]
    assert [i["v"] for i in repo.query("L#q", index=table.GSI_LISTINGS)] == ["a#1", "b#1", "c#1", "b#2"]


def test_add_once_adds_exactly_once(repo):
    k = table.key("SPEND#b", "2026-11")
    assert repo.add_once(k, delta("1.25", 2, budget_id="b"), "backfilled") is True
    assert repo.add_once(k, delta("1.25", 2, budget_id="b"), "backfilled") is False
    item = repo.get(k)
    assert (item["cost_usd"], item["events"], item["backfilled"], item["budget_id"]) == (Decimal("1.25"), 2, "1", "b")


def test_a_batch_in_three_parts_moves_the_checkpoint_once_and_each_part_applies_once(repo):
    assert repo.checkpoint_seq(SHARD) == ""
    repo.mark_busy(SHARD, "2026-11-20T10:00:00.500000Z")
    assert repo.apply_part(part(2, 3)) is False  # nothing pending yet
    assert repo.apply_part(part(1, 3)) is True
    assert repo.apply_part(part(1, 3)) is False
    pending = repo.pending_batch(SHARD)
    assert (pending["done"], pending["first"], pending["records"]) == (1, "001", 4)
    assert [list(p) for p in checkpoints.decode_parts(pending["parts"])] == [[("CELL#x", "k2")], [("CELL#x", "k3")]]
    assert repo.apply_part(part(3, 3)) is False  # part 2 comes first
    assert repo.apply_part(part(2, 3)) is True and repo.apply_part(part(2, 3)) is False
    assert repo.checkpoint_seq(SHARD) == ""
    assert repo.apply_part(part(3, 3)) is True and repo.apply_part(part(3, 3)) is False
    checkpoint = repo.get(table.checkpoint_key(SHARD))
    assert checkpoint["seq"] == "009" and checkpoint["records"] == 4 and checkpoint["through"].startswith("2026-11-20")
    assert "busy_since" not in checkpoint and "pending" not in checkpoint and repo.pending_batch(SHARD) is None
    assert [repo.get(table.key("CELL#x", f"k{n}"))["events"] for n in (1, 2, 3)] == [1, 2, 3]
    assert repo.apply_part(part(1, 1, first="005", last="009")) is False  # the checkpoint covers it
    assert repo.apply_part(part(1, 1, first="010", last="012")) is True
    assert repo.checkpoint_seq(SHARD) == "012" and repo.get(table.checkpoint_key(SHARD))["records"] == 8
    assert repo.get(table.key("CELL#x", "k1"))["events"] == 2
