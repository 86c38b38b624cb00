"""`masterdata get`, `list` and `next-number`: one generic path for every resource."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from masterdata.cli.connection import Parsers, UsageError, client_command
from masterdata.cli.output import console, print_json, record_table, rows_table
from masterdata.cli.resources import CliResource, cli_resources, find_resource
from masterdata.client import Client
from masterdata.client.resources import (
    NEXT_PAGE_TOKEN,
    descriptor_of,
    is_repeated,
    items_field,
)
from masterdata.v1 import organization_pb2


def register(commands: Parsers, connection: argparse.ArgumentParser) -> None:
    """Add get, list and next-number."""
    names = ", ".join(sorted(cli_resources()))
    get = commands.add_parser(
        "get",
        parents=[connection],
        help="read one resource by id",
        description=f"Read one resource by id. RESOURCE is one of: {names}.",
    )
    get.add_argument("resource", metavar="RESOURCE")
    get.add_argument("id", metavar="ID", help="UUID of the resource")
    get.add_argument("--json", action="store_true", help="print protobuf JSON")
    get.set_defaults(run=client_command(_get))

    listing = commands.add_parser(
        "list",
        parents=[connection],
        help="list resources, filtered, ordered and paged",
        description=f"List resources (one page unless --all). RESOURCE is one of: {names}.",
    )
    listing.add_argument("resource", metavar="RESOURCE")
    listing.add_argument("--filter", default="", help="AIP-160 filter, e.g. 'state_code = \"GJ\"'")
    listing.add_argument("--order-by", default="", help='e.g. "name desc, create_time"')
    listing.add_argument(
        "--page-size", type=int, default=0, help="items per page (server default 50)"
    )
    listing.add_argument("--page-token", default="", help="next_page_token of an earlier page")
    listing.add_argument("--show-deleted", action="store_true", help="include soft-deleted ones")
    listing.add_argument("--all", action="store_true", help="fetch every page")
    listing.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other request field, e.g. organization_id=<uuid> (repeatable)",
    )
    listing.add_argument("--json", action="store_true", help="print protobuf JSON")
    listing.set_defaults(run=client_command(_list))

    number = commands.add_parser(
        "next-number",
        parents=[connection],
        help="issue the next gap-free document number",
        description="Issue the next number of ORG's DOC_TYPE series in its active financial year.",
    )
    number.add_argument("organization_id", metavar="ORG", help="UUID of the organization")
    number.add_argument("document_type", metavar="DOC_TYPE", help="such as INVOICE")
    number.add_argument("--issue-date", type=datetime.date.fromisoformat, metavar="YYYY-MM-DD")
    number.add_argument("--request-id", metavar="UUID", help="repeat it to get the same number")
    number.add_argument("--json", action="store_true", help="print protobuf JSON")
    number.set_defaults(run=client_command(_next_number))


async def unary(client: Client, path: str, request: Message, response: type[Message]) -> Any:
    """Call a unary method by path on the client's channel (its policy and errors apply)."""
    call = client.channel.unary_unary(
        path,
        request_serializer=type(request).SerializeToString,
        response_deserializer=response.FromString,
    )
    return await call(request)


async def _get(client: Client, args: argparse.Namespace) -> int:
    resource = find_resource(args.resource)
    if resource.get is None:
        raise UsageError(f"{resource.name} has no Get method; use `masterdata list`")
    rpc = resource.get
    reply = await unary(client, rpc.path, rpc.request(id=args.id), rpc.response)
    item = getattr(reply, rpc.field)
    if args.json:
        print_json(item)
    else:
        console().print(record_table(item))
    return 0


def _param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--param {text!r}: expected FIELD=VALUE")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


#: What a field of each kind takes, in the words of a usage error.
_TAKES = {
    FieldDescriptor.CPPTYPE_INT32: "a whole number (32-bit)",
    FieldDescriptor.CPPTYPE_INT64: "a whole number",
    FieldDescriptor.CPPTYPE_UINT32: "a whole number, 0 or more (32-bit)",
    FieldDescriptor.CPPTYPE_UINT64: "a whole number, 0 or more",
    FieldDescriptor.CPPTYPE_DOUBLE: "a number",
    FieldDescriptor.CPPTYPE_FLOAT: "a number",
    FieldDescriptor.CPPTYPE_BOOL: "true or false",
    FieldDescriptor.CPPTYPE_STRING: "text",
}


def _takes(field: FieldDescriptor) -> str:
    if field.enum_type is not None:
        one = "one of " + ", ".join(value.name for value in field.enum_type.values)
    elif field.message_type is not None:
        one = f"a {field.message_type.full_name} as protobuf JSON"
    else:
        one = _TAKES[field.cpp_type]
    return f"a JSON list, each {one}" if is_repeated(field) else one


def _request_field(request: Message, name: str, flag: str) -> FieldDescriptor:
    """The field `name` means, by its proto name (as the flag's help shows) or JSON name."""
    descriptor = descriptor_of(request)
    for field in descriptor.fields:
        if name in (field.name, field.json_name):
            return field
    fields = ", ".join(sorted(field.name for field in descriptor.fields))
    raise UsageError(f"{flag}: no field {name!r} in this request; its fields: {fields}")


def _set_field(request: Message, name: str, value: Any, flag: str) -> None:
    """Set one request field from a command-line value (JSON if it parses, else text).

    A bad one is a usage error naming it as the user wrote it (`flag`), not by the
    request message's internal names.
    """
    field = _request_field(request, name, flag)
    for candidate in (value, str(value)) if not isinstance(value, str) else (value,):
        try:
            json_format.ParseDict({field.name: candidate}, request)
            return
        except json_format.ParseError:
            continue
    raise UsageError(f"{flag}: {field.name} takes {_takes(field)}")


def list_request(resource: CliResource, args: argparse.Namespace) -> Message:
    """The List request the flags describe; fields it lacks are usage errors."""
    request = resource.listing.list_request()
    flags = {
        "filter": args.filter,
        "order_by": args.order_by,
        "page_size": args.page_size,
        "page_token": args.page_token,
        "show_deleted": args.show_deleted,
    }
    for name, value in flags.items():
        if value:
            _set_field(request, name, value, "--" + name.replace("_", "-"))
    for text in args.param:
        _set_field(request, *_param(text), f"--param {text}")
    return request


async def _list(client: Client, args: argparse.Namespace) -> int:
    resource = find_resource(args.resource)
    request = list_request(resource, args)
    listing = resource.listing
    if args.all:
        reply = listing.list_response()
        items = getattr(reply, listing.name)
        async for item in client.list_all(listing.name, request, page_size=args.page_size or 1000):
            items.append(item)
    else:
        reply = await unary(client, listing.list_path, request, listing.list_response)
    if args.json:
        print_json(reply)
        return 0
    field = items_field(descriptor_of(reply))
    assert field is not None
    items = list(getattr(reply, field.name))
    if items:
        console().print(rows_table(items, resource.descriptor))
    else:
        console(stderr=True).print(f"no {field.name}")
    if token := getattr(reply, NEXT_PAGE_TOKEN):
        console(stderr=True).print(f"more: --page-token {token} (or --all)", soft_wrap=True)
    return 0


async def _next_number(client: Client, args: argparse.Namespace) -> int:
    request = organization_pb2.NextDocumentNumberRequest(
        organization_id=args.organization_id,
        document_type=args.document_type,
        request_id=args.request_id or "",
    )
    if args.issue_date is not None:
        day = args.issue_date
        request.issue_date.year, request.issue_date.month, request.issue_date.day = (
            day.year,
            day.month,
            day.day,
        )
    reply = await client.organizations.NextDocumentNumber(request)
    if args.json:
        print_json(reply)
    else:
        print(reply.document_number, flush=True)
    return 0
