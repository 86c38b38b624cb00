"""Writes of one row sent whole (resources/single_row.py), under concurrency, on both backends.

The update is optimistic — it applies only while the row has the revision it read —
so these tests race writers on one row and check that none is lost, that events keep
one version each in order, and that twins under one key still act once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio
from support import events, expect_failure, postgres_dsn

from masterdata.server.resources import single_row as single_row_module
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

Stub = commodity_pb2_grpc.CommodityServiceStub


@pytest.fixture
def stub(channel: aio.Channel) -> Stub:
    return Stub(channel)


async def _create(stub: Stub, name: str, request_id: str = "") -> pb.Commodity:
    request = pb.CreateCommodityRequest(
        commodity=pb.Commodity(name=name, category="Fibre", base_unit="KG"),
        request_id=request_id,
    )
    return (await stub.CreateCommodity(request)).commodity


def _describe(id_: str, text: str, request_id: str = "") -> pb.UpdateCommodityRequest:
    return pb.UpdateCommodityRequest(
        commodity=pb.Commodity(id=id_, description=text),
        update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        request_id=request_id,
    )


async def test_racing_updates_of_one_row_are_all_applied_once_in_order(
    stub: Stub, db: Database
) -> None:
    created = await _create(stub, "Cotton")
    texts = [f"take {i}" for i in range(30)]
    replies = await asyncio.gather(
        *(stub.UpdateCommodity(_describe(created.id, text)) for text in texts)
    )
    revisions = sorted(int(r.commodity.etag.strip('W/"')) for r in replies)
    assert revisions == list(range(2, 32))  # each took its own revision
    final = (await stub.GetCommodity(pb.GetCommodityRequest(id=created.id))).commodity
    assert final.etag == 'W/"31"'
    updates = [e for e in await events(db) if e.event_type == "commodity.updated"]
    assert [e.aggregate_version for e in updates] == list(range(2, 32))
    by_revision = {int(r.commodity.etag.strip('W/"')): r.commodity.description for r in replies}
    last = pb.Commodity.FromString(updates[-1].resource)
    assert last.description == by_revision[31] == final.description


async def test_a_reply_is_the_row_as_later_read(stub: Stub) -> None:
    created = await _create(stub, "Jute")
    assert (await stub.GetCommodity(pb.GetCommodityRequest(id=created.id))).commodity == created
    updated = (await stub.UpdateCommodity(_describe(created.id, "golden"))).commodity
    assert (await stub.GetCommodity(pb.GetCommodityRequest(id=created.id))).commodity == updated


async def test_twins_of_a_create_make_one_row_and_one_event(stub: Stub, db: Database) -> None:
    request_id = str(uuid.uuid4())
    replies = await asyncio.gather(*(_create(stub, "Sesame", request_id) for _ in range(10)))
    assert all(reply == replies[0] for reply in replies)
    assert [e.event_type for e in await events(db)] == ["commodity.created"]


async def test_twins_of_an_update_act_once(stub: Stub, db: Database) -> None:
    created = await _create(stub, "Castor")
    request = _describe(created.id, "bold", str(uuid.uuid4()))
    replies = await asyncio.gather(*(stub.UpdateCommodity(request) for _ in range(10)))
    assert all(reply == replies[0] for reply in replies)
    assert replies[0].commodity.etag == 'W/"2"'
    assert len(await events(db)) == 2


async def test_a_retried_update_replays_its_reply_after_the_row_moved_on(
    stub: Stub, db: Database
) -> None:
    created = await _create(stub, "Guar")
    request = _describe(created.id, "first", str(uuid.uuid4()))
    first = await stub.UpdateCommodity(request)
    await stub.UpdateCommodity(_describe(created.id, "second"))
    assert await stub.UpdateCommodity(request) == first
    assert len(await events(db)) == 3


async def test_a_retried_create_replays_instead_of_a_duplicate_name(stub: Stub) -> None:
    request_id = str(uuid.uuid4())
    first = await _create(stub, "Mustard", request_id)
    assert await _create(stub, "Mustard", request_id) == first


async def test_an_update_tried_again_applies_every_field_it_was_asked_for(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt finds description already as asked; a concurrent write changes
    it before that attempt's write, which then finds another revision. The second
    attempt must still apply the requested description, not only what the first changed."""
    created = await _create(stub, "Linseed")
    await stub.UpdateCommodity(_describe(created.id, "as asked"))
    change = single_row_module.SingleRowWrites._change
    raced = False

    async def racing_change(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal raced
        if not raced:
            raced = True
            await stub.UpdateCommodity(_describe(created.id, "changed meanwhile"))
        return await change(self, *args, **kwargs)

    monkeypatch.setattr(single_row_module.SingleRowWrites, "_change", racing_change)
    request = pb.UpdateCommodityRequest(
        commodity=pb.Commodity(id=created.id, description="as asked", hsn_code="1207"),
        update_mask=field_mask_pb2.FieldMask(paths=["description", "hsn_code"]),
    )
    updated = (await stub.UpdateCommodity(request)).commodity
    assert raced
    assert (updated.description, updated.hsn_code) == ("as asked", "1207")
    assert updated.etag == 'W/"4"'


async def test_a_delete_waiting_for_a_childs_transaction_sees_the_child(
    stub: Stub, db: Database
) -> None:
    """A child's transaction holds the parent's lock when the delete starts, and commits
    the child while the delete waits: the delete must count that child (HAS_CHILDREN).
    A count in the delete statement's own snapshot, taken before the wait, would not."""
    if not db.is_postgres:
        pytest.skip("SQLite runs one writer at a time: no transaction can hold the parent")
    commodity = await _create(stub, "Safflower")
    child = await asyncpg.connect(postgres_dsn(db.writer.url.render_as_string(False)))
    try:
        transaction = child.transaction()
        await transaction.start()
        await child.execute(
            "SELECT 1 FROM commodities WHERE id = $1 FOR UPDATE", uuid.UUID(commodity.id)
        )
        await child.execute(
            "INSERT INTO varieties (id, commodity_id, name, code, description, is_standard,"
            " is_active, create_time, update_time, created_by, updated_by, revision)"
            " VALUES ($1, $2, 'PBNS-12', '', '', false, true, now(), now(), 'test', 'test', 1)",
            uuid.uuid4(),
            uuid.UUID(commodity.id),
        )
        delete = asyncio.ensure_future(
            stub.DeleteCommodity(pb.DeleteCommodityRequest(id=commodity.id))
        )
        await asyncio.sleep(0.3)
        assert not delete.done()  # waiting for the child's transaction
        await transaction.commit()
        failure = await expect_failure(delete, grpc.StatusCode.FAILED_PRECONDITION)
    finally:
        await child.close()
    assert failure.reason == "HAS_CHILDREN"
    kept = (await stub.GetCommodity(pb.GetCommodityRequest(id=commodity.id))).commodity
    assert not kept.HasField("delete_time")


async def test_racing_child_creates_and_parent_deletes_never_orphan_a_child(
    stub: Stub,
) -> None:
    """Either the delete wins (the variety is refused) or the variety does (the delete
    is refused); never both."""
    for round_ in range(10):
        commodity = await _create(stub, f"Niger {round_}")
        variety = stub.CreateVariety(
            pb.CreateVarietyRequest(
                variety=pb.Variety(commodity_id=commodity.id, name=f"Local {round_}")
            )
        )
        delete = stub.DeleteCommodity(pb.DeleteCommodityRequest(id=commodity.id))
        outcomes = await asyncio.gather(variety, delete, return_exceptions=True)
        succeeded = [not isinstance(o, BaseException) for o in outcomes]
        assert succeeded.count(True) == 1, outcomes
