"""A few real rows on each backend, created through the RPCs, named by placeholders.

Every seed row has a placeholder id (a fixed UUID) that requests carry; each
backend maps it to its own row's id, and real page tokens likewise, so one drawn
request means the same thing on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from grpc import aio

from fuzz.contract import Rpc, contract_rpcs, message_class
from fuzz.values import PANS, gstin

NAMESPACE = uuid.UUID("5eed0000-0000-4000-8000-000000000000")
Ids = Mapping[str, str]


def placeholder(kind: str, n: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{n}"))


def ref(kind: str, n: int = 0) -> str:
    return placeholder(kind, n)


@dataclass(frozen=True)
class Seed:
    """A row to create: its kind and number (its placeholder), the Create RPC and the
    resource as JSON, built when needed (it names earlier rows by placeholder)."""

    kind: str
    create: str
    resource: Callable[[], dict[str, Any]]
    n: int = 0
    deleted: bool = False  # soft-deleted once created, for the Undelete RPCs


def _day(text: str) -> dict[str, int]:
    year, month, day = map(int, text.split("-"))
    return {"year": year, "month": month, "day": day}


def _term(kind: str, create: str, name: str, n: int = 0, **more: Any) -> Seed:
    return Seed(kind, create, lambda: {"name": name, "code": name.upper()[:8], **more}, n, n > 0)


def _org() -> dict[str, str]:
    return {"organization_id": ref("organization")}


#: Parents before children.
SEEDS: tuple[Seed, ...] = (
    Seed("location", "CreateLocation", lambda: {
        "name": "Rajkot Yard", "state_code": "GJ", "country": "India", "pincode": "360001",
        "timezone": "Asia/Kolkata", "latitude": 22.3, "longitude": 70.8}),
    Seed("location", "CreateLocation", lambda: {"name": "Old Godown"}, 1, deleted=True),
    Seed("organization", "CreateOrganization", lambda: {
        "name": "Shree Cotton Traders", "pan": PANS[0], "base_currency": "INR"}),
    Seed("organization", "CreateOrganization", lambda: {"name": "Bare Org", "pan": PANS[1]}, 1),
    Seed("gst_registration", "CreateGstRegistration", lambda: {
        **_org(), "gstin": gstin(PANS[0], "24"), "legal_name": "Shree", "state": "Gujarat"}),
    Seed("bank_account", "CreateBankAccount", lambda: {
        **_org(), "account_holder": "Shree Cotton Traders", "bank_name": "HDFC Bank",
        "account_number": "50100012341234", "ifsc": "HDFC0001234"}),
    Seed("financial_year", "CreateFinancialYear", lambda: {
        **_org(), "start_date": _day("2025-04-01"), "end_date": _day("2026-03-31")}),
    Seed("financial_year", "CreateFinancialYear", lambda: {
        **_org(), "start_date": _day("2026-04-01"), "end_date": _day("2027-03-31")}, 1),
    Seed("document_series", "CreateDocumentSeries", lambda: {
        **_org(), "financial_year_id": ref("financial_year"), "document_type": "INVOICE",
        "prefix": "INV/{FY}/"}),
    Seed("commodity", "CreateCommodity", lambda: {
        "name": "Cotton", "category": "Fibre", "trade_unit": "BALE", "gst_rate": "5.00",
        "standard_weight_per_unit": "170"}),
    Seed("commodity", "CreateCommodity", lambda: {"name": "Wheat", "category": "Cereals"}, 1),
    Seed("variety", "CreateVariety", lambda: {
        "commodity_id": ref("commodity"), "name": "Shankar-6"}),
    Seed("quality_parameter", "CreateQualityParameter", lambda: {
        "commodity_id": ref("commodity"), "parameter_name": "Moisture", "min_value": "0",
        "max_value": "12"}),
    Seed("parameter_template", "CreateParameterTemplate", lambda: {
        "category": "Fibre", "parameter_name": "Trash"}),
    _term("trade_type", "CreateTradeType", "Spot"),
    _term("trade_type", "CreateTradeType", "Gone", 1),
    _term("bargain_type", "CreateBargainType", "Firm"),
    _term("passing_term", "CreatePassingTerm", "Lab"),
    _term("weightment_term", "CreateWeightmentTerm", "Mill", weight_deduction_percent="0.50"),
    _term("delivery_term", "CreateDeliveryTerm", "Ex-Yard"),
    _term("payment_term", "CreatePaymentTerm", "Net30", days=30, currency="INR"),
    Seed("commission_structure", "CreateCommissionStructure", lambda: {
        "commodity_id": ref("commodity"), "trade_type_id": ref("trade_type"),
        "name": "Brokerage", "rate": "1.0"}),
)  # fmt: skip
#: After the seeds: the first financial year is the active one.
AFTERWARDS = (("ActivateFinancialYear", lambda: {"id": ref("financial_year")}),)


def kinds() -> dict[str, tuple[str, ...]]:
    """Placeholder ids by kind, as the request strategies offer them."""
    found: dict[str, list[str]] = {}
    for seed_row in SEEDS:
        found.setdefault(seed_row.kind, []).append(placeholder(seed_row.kind, seed_row.n))
    return {kind: tuple(ids) for kind, ids in found.items()}


def _by_name() -> dict[str, Rpc]:
    return {rpc.name: rpc for rpc in contract_rpcs()}


def token_placeholder(rpc_name: str) -> str:
    return f"@token:{rpc_name}@"


@dataclass
class Placeholders:
    """One backend's meaning of the placeholders: ids and page tokens."""

    ids: dict[str, str]
    tokens: dict[str, str]

    def _pattern(self) -> re.Pattern[str]:
        return re.compile(
            r"@token:\w+(?::[\w=-]*)?@|"
            + "|".join(re.escape(v) for v in sorted(self._variants(), key=len, reverse=True))
        )

    def _variants(self) -> dict[str, str]:
        """Each id as callers mangle it: upper case, without dashes, one short."""
        variants: dict[str, str] = {}
        for fake, real in self.ids.items():
            for mangle in (str, str.upper, lambda s: s.replace("-", ""), lambda s: s[:-1]):
                variants[mangle(fake)] = mangle(real)
        return variants

    def localize(self, message: Message) -> Message:
        """A copy of `message` with every placeholder replaced, at any depth."""
        pattern, variants = self._pattern(), self._variants()

        def swap(text: str) -> str:
            return pattern.sub(lambda m: variants.get(m.group(0)) or self._token(m.group(0)), text)

        copy = type(message)()
        copy.CopyFrom(message)
        _rewrite(copy, swap)
        return copy

    def _token(self, holder: str) -> str:
        name, _, payload = holder.strip("@").removeprefix("token:").partition(":")
        real = self.tokens.get(name)
        if real is None or not payload:
            return real or holder
        body = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
        body["v"] = json.loads(base64.urlsafe_b64decode(payload))
        check = json.dumps([body["f"], body["v"]], separators=(",", ":"), sort_keys=True)
        body["c"] = hashlib.sha256(check.encode()).hexdigest()[:12]
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _rewrite(message: Message, swap: Callable[[str], str]) -> None:
    """Apply `swap` to every string (and UTF-8 bytes) of a message, in place."""
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            items = list(value.items())
            value.clear()
            scalar = field.message_type.fields_by_name["value"].message_type is None
            for key, item in items:
                key = swap(key) if isinstance(key, str) else key
                if scalar:
                    value[key] = swap(item) if isinstance(item, str) else item
                else:
                    _rewrite(item, swap)
                    value[key].CopyFrom(item)
        elif field.message_type is not None:
            for item in value if field.is_repeated else [value]:
                _rewrite(item, swap)
        elif isinstance(value, str) or (field.is_repeated and value and isinstance(value[0], str)):
            if field.is_repeated:
                value[:] = [swap(v) for v in value]
            else:
                setattr(message, field.name, swap(value))
        elif isinstance(value, bytes):
            setattr(
                message,
                field.name,
                swap(value.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"),
            )


def _request(rpc: Rpc, body: dict[str, Any], place: Placeholders) -> Message:
    return place.localize(json_format.ParseDict(body, message_class(rpc.request_type)()))


async def _call(channel: aio.Channel, rpc: Rpc, request: Message) -> Message:
    return await rpc.callable(channel)(request, timeout=30)


async def seed(channel: aio.Channel) -> Placeholders:
    """Create the seed rows, then collect one real page token of every List RPC."""
    rpcs, place = _by_name(), Placeholders({}, {})
    for row in SEEDS:
        rpc = rpcs[row.create]
        (field,) = (f for f in rpc.request_type.fields if f.message_type is not None)
        reply = await _call(channel, rpc, _request(rpc, {field.name: row.resource()}, place))
        (resource,) = (value for _, value in reply.ListFields())
        place.ids[placeholder(row.kind, row.n)] = resource.id
        if row.deleted:
            remove = rpcs[row.create.replace("Create", "Delete", 1)]
            await _call(channel, remove, _request(remove, {"id": resource.id}, place))
    for name, body in AFTERWARDS:
        await _call(channel, rpcs[name], _request(rpcs[name], body(), place))
    for rpc in rpcs.values():
        if "page_token" in rpc.request_type.fields_by_name and not rpc.server_streaming:
            token = await _first_page_token(channel, rpc, place)
            if token:
                place.tokens[rpc.name] = token
    return place


async def _first_page_token(channel: aio.Channel, rpc: Rpc, place: Placeholders) -> str:
    request = message_class(rpc.request_type)(page_size=1)
    for field in rpc.request_type.fields:
        if field.name.endswith("_id") and field.type == field.TYPE_STRING:
            kind = field.name.removesuffix("_id")
            setattr(request, field.name, place.ids.get(placeholder(kind, 0), ""))
    try:
        reply = await _call(channel, rpc, request)
    except aio.AioRpcError:
        return ""
    return str(getattr(reply, "next_page_token", ""))
