"""Builders shared by the OrganizationService suites: valid ids, dates, resources."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import grpc
from google.protobuf import field_mask_pb2
from google.type import date_pb2
from grpc import aio

from masterdata.server.domain.tax_ids import GSTIN_ALPHABET, gstin_check_character
from masterdata.v1 import organization_pb2 as pb
from masterdata.v1 import organization_pb2_grpc

Stub = organization_pb2_grpc.OrganizationServiceStub
PAN = "AAPFU0939F"
OTHER_PAN = "AAGCB7383J"
TIMEOUT = 60.0
T = TypeVar("T")


async def patiently(call: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Retry a call that failed with UNAVAILABLE, as clients are told to.

    Hundreds of concurrent calls queue for the test server's 20 connections; on a
    loaded CI machine a few may outwait the pool timeout. Such a call did no work
    (its transaction never started or was rolled back), so a retry is safe.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def gstin(pan: str = PAN, state: str = "27", entity: int = 1) -> str:
    """A valid GSTIN for `pan`; `entity` 1..35 picks the 13th character."""
    body = f"{state}{pan}{GSTIN_ALPHABET[entity]}Z"
    return body + gstin_check_character(body)


def day(text: str) -> date_pb2.Date:
    value = date.fromisoformat(text)
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def create_org(stub: Stub, **fields: object) -> pb.Organization:
    fields.setdefault("name", "Shree Cotton Traders")
    reply = await stub.CreateOrganization(
        pb.CreateOrganizationRequest(organization=pb.Organization(**fields))
    )
    return reply.organization


async def create_gst(stub: Stub, org_id: str, **fields: object) -> pb.GstRegistration:
    fields.setdefault("gstin", gstin())
    message = pb.GstRegistration(organization_id=org_id, **fields)
    reply = await stub.CreateGstRegistration(
        pb.CreateGstRegistrationRequest(gst_registration=message)
    )
    return reply.gst_registration


async def create_account(stub: Stub, org_id: str, **fields: object) -> pb.BankAccount:
    fields.setdefault("account_holder", "Shree Cotton Traders")
    fields.setdefault("bank_name", "HDFC Bank")
    fields.setdefault("account_number", "50100012341234")
    message = pb.BankAccount(organization_id=org_id, **fields)
    reply = await stub.CreateBankAccount(pb.CreateBankAccountRequest(bank_account=message))
    return reply.bank_account


async def create_year(
    stub: Stub, org_id: str, start: str = "2025-04-01", end: str = "2026-03-31", **fields: object
) -> pb.FinancialYear:
    message = pb.FinancialYear(
        organization_id=org_id, start_date=day(start), end_date=day(end), **fields
    )
    reply = await stub.CreateFinancialYear(pb.CreateFinancialYearRequest(financial_year=message))
    return reply.financial_year


async def activate(stub: Stub, year_id: str) -> pb.FinancialYear:
    reply = await stub.ActivateFinancialYear(pb.ActivateFinancialYearRequest(id=year_id))
    return reply.financial_year


async def create_series(
    stub: Stub, org_id: str, year_id: str, **fields: object
) -> pb.DocumentSeries:
    fields.setdefault("document_type", "INVOICE")
    message = pb.DocumentSeries(organization_id=org_id, financial_year_id=year_id, **fields)
    reply = await stub.CreateDocumentSeries(pb.CreateDocumentSeriesRequest(document_series=message))
    return reply.document_series


@dataclass
class Numbering:
    """An organization with an active 2025-26 year and an INVOICE series in it."""

    org: pb.Organization
    year: pb.FinancialYear
    series: pb.DocumentSeries


async def numbering(stub: Stub, **series_fields: object) -> Numbering:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    await activate(stub, year.id)
    series_fields.setdefault("prefix", "INV/{FY}/")
    series = await create_series(stub, org.id, year.id, **series_fields)
    return Numbering(org, year, series)


async def next_number(
    stub: Stub, org_id: str, document_type: str = "INVOICE", **fields: object
) -> pb.NextDocumentNumberResponse:
    request = pb.NextDocumentNumberRequest(
        organization_id=org_id, document_type=document_type, **fields
    )
    return await stub.NextDocumentNumber(request, timeout=TIMEOUT)
