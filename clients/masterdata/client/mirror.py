"""`Mirror`: a local, always-current map of one resource type (a Kubernetes-style informer).

    async with Mirror(client, "commodities") as commodities:
        await commodities.synced()
        cotton = commodities.get(commodity_id)      # a dict lookup, no RPC

How it stays exact:
1. read the feed head H (before the snapshot, so nothing committed after it is missed);
2. List every page into a staging map (a state somewhere after H);
3. subscribe to the resource's events after H and apply them to the staging map up to
   the stream's `caught_up`: every event carries the resource after the change, so
   applying them in order brings each touched id to its newest state and leaves the
   rest as listed — the staging map is now the state at the caught-up head;
4. swap it in (firing change callbacks for the difference), mark synced, and apply
   live events one by one.
A restarted or unreachable server is survived by the resumable subscription (same
position, no event lost or applied twice). If the feed went backwards (the head is
below our position after a reconnect: a restored database) or the server refuses the
position, the mirror re-lists from step 1 and reports only the net differences.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import grpc
from google.protobuf.message import Message

from masterdata.client.errors import MasterdataError
from masterdata.client.feed import RESUMABLE_CODES, Backoff, FeedCursor
from masterdata.client.resources import Resource, find_resource
from masterdata.v1 import events_pb2

if TYPE_CHECKING:
    from masterdata.client.client import Client

ChangeKind = Literal["added", "updated", "deleted"]
ChangeCallback = Callable[[ChangeKind, Any, Any], Any]
#: Refusals of a subscription position: start over from a fresh List.
POSITION_REFUSED = frozenset(
    {grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND}
)


class FeedRewound(Exception):
    """The feed head is behind our position: the events we built on are gone."""


class Mirror:
    """Keeps `{id: message}` of one resource current from List + SubscribeEvents.

    Args:
        client: A connected `Client`.
        resource: A list-able resource: "commodities", "locations", "delivery_terms",
            "gst_registrations", ... (see `resources.resource_table()`).
        where: Field equalities that scope the mirror, applied to the List request
            (e.g. `{"organization_id": org}` for children) and to event resources.
        on_change: Callback `(kind, old, new)`; more with `mirror.on_change(cb)`.
    """

    def __init__(
        self,
        client: Client,
        resource: str,
        *,
        where: Mapping[str, Any] | None = None,
        on_change: ChangeCallback | None = None,
        idle_timeout_s: float | None = 60.0,
    ) -> None:
        self._client = client
        self.resource: Resource = find_resource(resource)
        self._where = dict(where or {})
        self._callbacks: list[ChangeCallback] = [on_change] if on_change else []
        self._idle_timeout_s = idle_timeout_s
        self._items: dict[str, Any] = {}
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.cursor = FeedCursor(0, (self.resource.aggregate_type,))
        #: How many times a full List was taken (1 after the first sync).
        self.relists = 0

    # -- reading -------------------------------------------------------------------
    def get(self, id: str) -> Any | None:
        return self._items.get(id)

    def values(self) -> list[Any]:
        return list(self._items.values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, id: object) -> bool:
        return id in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    @property
    def position(self) -> int:
        """The feed sequence the map reflects."""
        return self.cursor.position

    # -- lifecycle -----------------------------------------------------------------
    def on_change(self, callback: ChangeCallback) -> ChangeCallback:
        """Register `callback(kind, old, new)`; usable as a decorator."""
        self._callbacks.append(callback)
        return callback

    def start(self) -> Mirror:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"mirror:{self.resource.name}")
        return self

    async def synced(self) -> None:
        """Wait until the first snapshot is complete (bound it with `asyncio.timeout`).

        Raises what stopped the mirror, if it stopped.
        """
        self.start()
        assert self._task is not None
        waiter = asyncio.ensure_future(self._synced.wait())
        try:
            done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self._task in done:
            self._task.result()  # raises the failure
            raise RuntimeError(f"mirror of {self.resource.name} stopped before syncing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> Mirror:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the informer loop -----------------------------------------------------------
    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._list_and_watch()
            except FeedRewound:
                continue
            except MasterdataError as error:
                if error.code not in RESUMABLE_CODES | POSITION_REFUSED:
                    raise
                await asyncio.sleep(backoff.next_delay(error.retry_after))

    async def _list_and_watch(self) -> None:
        head = await self._client.head_sequence()
        request = self._list_request()
        staging = {
            item.id: item
            async for item in self._client.list_all(self.resource.name, request)
            if self._in_scope(item)
        }
        self.relists += 1
        self.cursor = FeedCursor(head, (self.resource.aggregate_type,))
        feed = self._client.subscribe_items(self.cursor, idle_timeout_s=self._idle_timeout_s)
        try:
            async for item in feed:
                if await self._on_item(item, staging):
                    staging = self._items
        finally:
            await feed.aclose()

    async def _on_item(
        self, item: events_pb2.SubscribeEventsResponse, staging: dict[str, Any]
    ) -> bool:
        """Apply one stream item; True once `staging` has become the live map."""
        kind = item.WhichOneof("kind")
        live = staging is self._items
        if kind == "event":
            await self._apply(staging, item.event, notify=live)
        elif kind == "caught_up" and not live:
            await self._replace(staging)
            self._synced.set()
            return True
        elif kind == "caught_up" and await self._client.head_sequence() < self.cursor.position:
            raise FeedRewound
        return False

    async def _apply(
        self, target: dict[str, Any], event: events_pb2.Event, *, notify: bool
    ) -> None:
        new = self.resource.message()
        if not event.resource.Unpack(new):
            return  # not a snapshot of this resource type
        key = event.aggregate_id
        old = target.get(key)
        if new.HasField("delete_time") or not self._in_scope(new):
            if old is None:
                return
            del target[key]
            current: Message | None = None
        else:
            target[key] = current = new
        if notify:
            await self._notify(old, current)

    async def _replace(self, fresh: dict[str, Any]) -> None:
        """Swap in a complete snapshot, reporting what differs from the current map."""
        old_items, self._items = self._items, fresh
        for key in old_items.keys() | fresh.keys():
            old, new = old_items.get(key), fresh.get(key)
            if old != new:
                await self._notify(old, new)

    async def _notify(self, old: Any, new: Any) -> None:
        kind: ChangeKind = "added" if old is None else "deleted" if new is None else "updated"
        for callback in self._callbacks:
            result = callback(kind, old, new)
            if inspect.isawaitable(result):
                await result

    def _list_request(self) -> Message:
        request = self.resource.list_request()
        for name, value in self._where.items():
            if name in request.DESCRIPTOR.fields_by_name:
                setattr(request, name, value)
        return request

    def _in_scope(self, item: Message) -> bool:
        return all(getattr(item, name, value) == value for name, value in self._where.items())
