"""`Mirror` converges on what another client changes, through restarts and a rewound feed.

Servers are `masterdata serve` subprocesses on a database of the test's own (both
backends); the mirror's client reaches them through a TCP proxy so that it keeps its
target when a restarted server binds a new port. The truth is a fresh List.
"""

from __future__ import annotations

from typing import Any

import pytest
from client_support import TcpProxy, backend, fresh_database
from google.protobuf import field_mask_pb2
from processes import running_server, start_server
from support import eventually

from masterdata.client import Client, Mirror
from masterdata.v1 import commodity_pb2 as pb

__all__ = ["backend"]  # the parametrised fixture
pytestmark = pytest.mark.timeout(120)
FAST_FEED = {"MASTERDATA_HEARTBEAT_INTERVAL_S": "0.5", "MASTERDATA_FEED_POLL_INTERVAL_S": "0.5"}


class Replica:
    """A dict rebuilt from nothing but the change callbacks: they must add up."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.kinds: list[str] = []

    def __call__(self, kind: str, old: Any, new: Any) -> None:
        self.kinds.append(kind)
        if kind == "deleted":
            assert self.items.pop(old.id) == old
        else:
            assert self.items.get(new.id) == old
            self.items[new.id] = new


async def create(client: Client, name: str, category: str = "Fibre") -> pb.Commodity:
    commodity = pb.Commodity(name=name, category=category)
    return (
        await client.commodities.CreateCommodity(pb.CreateCommodityRequest(commodity=commodity))
    ).commodity


async def update(client: Client, id: str, description: str) -> None:
    await client.commodities.UpdateCommodity(
        pb.UpdateCommodityRequest(
            commodity=pb.Commodity(id=id, description=description),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        )
    )


async def delete(client: Client, id: str) -> None:
    await client.commodities.DeleteCommodity(pb.DeleteCommodityRequest(id=id))


async def truth(client: Client) -> dict[str, pb.Commodity]:
    return {c.id: c async for c in client.list_all("commodities")}


async def converged(mirror: Mirror, writer: Client, replica: Replica) -> bool:
    expected = await truth(writer)
    return dict(mirror.items()) == expected and replica.items == expected


async def test_mirror_converges_through_changes_and_restarts(backend, tmp_path) -> None:
    kind, postgres_url = backend
    replica = Replica()
    async with fresh_database(kind, tmp_path, postgres_url) as url:
        first = await start_server(url, FAST_FEED)
        try:
            async with TcpProxy(first.port) as proxy, Client(proxy.target) as reader:
                async with Client(first.target) as writer:
                    cotton = await create(writer, "Cotton")
                    wheat = await create(writer, "Wheat", "Grain")
                    jute = await create(writer, "Jute")
                    mirror = Mirror(reader, "commodities", on_change=replica)
                    await mirror.start().synced()
                    assert dict(mirror.items()) == await truth(writer)
                    assert sorted(replica.kinds) == ["added"] * 3
                    assert mirror.get(cotton.id) == cotton and len(mirror) == 3

                    await create(writer, "Chana", "Pulses")
                    await update(writer, wheat.id, "rabi crop")
                    await delete(writer, jute.id)
                    await eventually(
                        lambda: converged(mirror, writer, replica), what="live changes"
                    )
                    assert jute.id not in mirror and mirror.get(wheat.id).description == "rabi crop"

                await first.kill()  # abrupt: no UNAVAILABLE, the connection just drops
                async with (
                    running_server(url, FAST_FEED) as second,
                    Client(second.target) as writer2,
                ):
                    await update(writer2, cotton.id, "kharif crop")  # while the mirror is cut off
                    await create(writer2, "Maize", "Grain")
                    proxy.retarget(second.port)
                    await delete(writer2, wheat.id)
                    await eventually(
                        lambda: converged(mirror, writer2, replica), what="after restart"
                    )
                    assert mirror.relists == 1, "resumed from its position, not re-listed"
                    await mirror.stop()
        finally:
            await first.kill()


async def test_mirror_relists_when_the_feed_is_rewound(tmp_path) -> None:
    """A server on a different (restored, younger) database: the position is gone."""
    replica = Replica()
    async with (
        fresh_database("sqlite", tmp_path, None) as old_url,
        fresh_database("sqlite", tmp_path, None) as new_url,
        running_server(old_url, FAST_FEED) as old,
        TcpProxy(old.port) as proxy,
        Client(proxy.target) as reader,
    ):
        async with Client(old.target) as writer:
            for i in range(4):
                await create(writer, f"old {i}")
        async with Mirror(reader, "commodities", on_change=replica) as mirror:
            await mirror.synced()
            assert len(mirror) == 4
            async with running_server(new_url, FAST_FEED) as new, Client(new.target) as writer2:
                kept = await create(writer2, "new 0")
                proxy.retarget(new.port)
                await eventually(lambda: converged(mirror, writer2, replica), what="re-listed")
                assert mirror.relists == 2 and list(mirror) == [kept.id]
                assert replica.kinds.count("deleted") == 4
