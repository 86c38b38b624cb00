"""Binds the standard methods of a resource onto a generated servicer, once for all.

The proto naming conventions (`Create<R>Request.<r>`, `List<Rs>Response.<rs>`, ...)
make every standard handler the same few lines; this module writes them once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grpc import aio

from masterdata.server.resources.caller import current_caller
from masterdata.server.resources.listing import ListRequest
from masterdata.server.resources.service import ResourceService
from masterdata.server.resources.spec import ResourceSpec

Handler = Callable[[Any, aio.ServicerContext], Awaitable[Any]]


@dataclass(frozen=True)
class ResourceNames:
    """How one resource is spelled in its proto: `Location`/`Locations` and fields."""

    singular: str
    plural: str
    field: str
    plural_field: str
    parent_field: str = ""


def standard_handlers(
    pb2: ModuleType, names: ResourceNames, service: ResourceService, *, batch_get: bool = False
) -> dict[str, Handler]:
    """Handlers named like the RPCs (`CreateLocation`, ...) for `service`."""
    s, p, f = names.singular, names.plural, names.field

    def response(kind: str, value: Any) -> Any:
        return getattr(pb2, f"{kind}Response")(**{f: value})

    async def create(request: Any, _context: aio.ServicerContext) -> Any:
        result = await service.create(getattr(request, f), current_caller())
        return response(f"Create{s}", result)

    async def get(request: Any, _context: aio.ServicerContext) -> Any:
        return response(f"Get{s}", await service.get(request.id, current_caller()))

    async def list_(request: Any, _context: aio.ServicerContext) -> Any:
        page = await service.list(list_request(request, names.parent_field), current_caller())
        reply = getattr(pb2, f"List{p}Response")(next_page_token=page.next_page_token)
        getattr(reply, names.plural_field).extend(page.items)
        return reply

    async def update(request: Any, _context: aio.ServicerContext) -> Any:
        paths = list(request.update_mask.paths)
        result = await service.update(getattr(request, f), paths, current_caller())
        return response(f"Update{s}", result)

    async def delete(request: Any, _context: aio.ServicerContext) -> Any:
        force = bool(getattr(request, "force", False))
        result = await service.delete(request.id, request.etag, current_caller(), force=force)
        return response(f"Delete{s}", result)

    async def undelete(request: Any, _context: aio.ServicerContext) -> Any:
        result = await service.undelete(request.id, request.etag, current_caller())
        return response(f"Undelete{s}", result)

    async def batch(request: Any, _context: aio.ServicerContext) -> Any:
        items = await service.batch_get(list(request.ids), current_caller())
        reply = getattr(pb2, f"BatchGet{p}Response")()
        getattr(reply, names.plural_field).extend(items)
        return reply

    handlers: dict[str, Handler] = {
        f"Create{s}": create,
        f"Get{s}": get,
        f"List{p}": list_,
        f"Update{s}": update,
        f"Delete{s}": delete,
        f"Undelete{s}": undelete,
    }
    if batch_get:
        handlers[f"BatchGet{p}"] = batch
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


def resource_names(pb2: ModuleType, spec: ResourceSpec) -> ResourceNames:
    """How `spec` is spelled in `pb2`'s service, found through the List RPC returning it.

    The plural comes from the RPC (`ListPaymentTerms`, `ListDocumentSeries`) and its
    repeated field, so irregular plurals need no special case.
    """
    target = spec.message.DESCRIPTOR
    for service in pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            if not method.name.startswith("List"):
                continue
            for field in method.output_type.fields:
                if field.message_type is target and field.is_repeated:
                    parent = spec.parent.field if spec.parent else ""
                    return ResourceNames(
                        target.name, method.name[4:], spec.name, field.name, parent
                    )
    raise LookupError(f"{pb2.DESCRIPTOR.name} has no List RPC returning {target.name}")


def bind_standard_methods(servicer: object, pb2: ModuleType, service: ResourceService) -> None:
    """Install the standard methods of `service` (BatchGet too when the proto has it)."""
    names = resource_names(pb2, service.spec)
    batch_get = hasattr(type(servicer), f"BatchGet{names.plural}")
    bind(servicer, standard_handlers(pb2, names, service, batch_get=batch_get))


def bind(servicer: object, handlers: dict[str, Handler]) -> None:
    """Install handlers as instance attributes, where the generated adder looks."""
    for name, handler in handlers.items():
        if not hasattr(type(servicer), name):
            raise AttributeError(f"{type(servicer).__name__} has no RPC {name}")
        setattr(servicer, name, handler)
