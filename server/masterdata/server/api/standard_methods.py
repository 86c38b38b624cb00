"""The standard methods of every resource: a declarative table of their RPC names, and
their handlers, written once.

Each servicer module lists its resources' standard methods by their RPC names
(`CreateLocation`, `ListPaymentTerms`, ...) in a `StandardMethods` table, so a search
for an RPC lands on its line; the handlers are the same few lines for every
resource (the request and response messages follow the AIP naming conventions)
and are installed under those names on the generated servicer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grpc import aio

from masterdata.server.resources.caller import current_caller
from masterdata.server.resources.listing import ListRequest
from masterdata.server.resources.standard import Resources
from masterdata.server.resources.wire import ItemField, PageFields

Handler = Callable[[Any, aio.ServicerContext[Any, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class StandardMethods:
    """The RPC names of one resource's standard methods, as its service spells them.

    `resource` is the spec's name (`location`): the request field that carries the
    resource and the key of the Resources that serves it.
    """

    resource: str
    create: str
    get: str
    list: str
    update: str
    delete: str
    undelete: str
    batch_get: str = ""
    #: The List request's parent field (`commodity_id` for varieties), if any.
    parent_field: str = ""


def bind_standard_methods(
    servicer: object,
    pb2: ModuleType,
    services: Iterable[Resources],
    table: Iterable[StandardMethods],
) -> None:
    """Install the handlers of every row of `table` on `servicer`, by their RPC names."""
    by_name = {service.spec.name: service for service in services}
    for methods in table:
        bind(servicer, standard_handlers(pb2, methods, by_name[methods.resource]))


def standard_handlers(
    pb2: ModuleType, names: StandardMethods, service: Resources
) -> dict[str, Handler]:
    """Handlers for the RPCs `names` lists, serving `service`."""
    f = names.resource
    page_fields = PageFields.of(getattr(pb2, f"{names.list}Response"))

    def item_field(rpc: str) -> ItemField:
        return ItemField.of(getattr(pb2, f"{rpc}Response"))

    # Replies are written from the resource's serialization (resources/wire.py): a
    # rendered message's is kept with it; a write's result is serialized once, not
    # copied into a response message first.
    create_reply, get_reply = item_field(names.create), item_field(names.get)
    update_reply, delete_reply = item_field(names.update), item_field(names.delete)
    undelete_reply = item_field(names.undelete)

    async def create(request: Any, _context: aio.ServicerContext[Any, Any]) -> Any:
        result = await service.create(getattr(request, f), current_caller())
        return create_reply.reply(result.SerializeToString())

    async def get(request: Any, _context: aio.ServicerContext[Any, Any]) -> Any:
        return get_reply.reply((await service.get(request.id, current_caller())).wire())

    async def list_(request: Any, _context: aio.ServicerContext[Any, Any]) -> Any:
        page = await service.list(list_request(request, names.parent_field), current_caller())
        return page.reply(page_fields)  # serialized already (resources/wire.py)

    async def update(request: Any, _context: aio.ServicerContext[Any, Any]) -> Any:
        paths = list(request.update_mask.paths)
        result = await service.update(getattr(request, f), paths, current_caller())
        return update_reply.reply(result.SerializeToString())

    async def delete(request: Any, _context: aio.ServicerContext[Any, Any]) -> Any:
        force = bool(getattr(request, "force", False))
        result = await service.delete(request.id, request.etag, current_caller(), force=force)
        return delete_reply.reply(result.SerializeToString())

    async def undelete(request: Any, _context: aio.ServicerContext[Any, Any]) -> Any:
        result = await service.undelete(request.id, request.etag, current_caller())
        return undelete_reply.reply(result.SerializeToString())

    async def batch(request: Any, _context: aio.ServicerContext[Any, Any]) -> Any:
        found = await service.batch_get(list(request.ids), current_caller())
        return batch_reply.replies([rendered.wire() for rendered in found])

    handlers: dict[str, Handler] = {
        names.create: create,
        names.get: get,
        names.list: list_,
        names.update: update,
        names.delete: delete,
        names.undelete: undelete,
    }
    if names.batch_get:
        batch_reply = item_field(names.batch_get)
        handlers[names.batch_get] = batch
    return handlers


def list_request(request: Any, parent_field: str = "") -> ListRequest:
    return ListRequest(
        page_size=request.page_size,
        page_token=request.page_token,
        filter=request.filter,
        order_by=request.order_by,
        show_deleted=request.show_deleted,
        parent_id=getattr(request, parent_field) if parent_field else "",
    )


def bind(servicer: object, handlers: dict[str, Handler]) -> None:
    """Install handlers as instance attributes, where the generated adder looks."""
    for name, handler in handlers.items():
        if not hasattr(type(servicer), name):
            raise AttributeError(f"{type(servicer).__name__} has no RPC {name}")
        setattr(servicer, name, handler)
