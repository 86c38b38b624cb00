"""Replies written from their items' bytes parse as the response message."""

from __future__ import annotations

import pytest

from masterdata.server.resources.wire import ItemField, PageFields, page_reply
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import events_pb2


@pytest.mark.parametrize("token", ["", "next", "é" * 200])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_reply_parses_as_the_response_built_field_by_field(token: str, count: int) -> None:
    items = [
        pb.Commodity(id=f"id-{i}", name="x" * (60 * i), description="y" * 150, gst_rate="5.00")
        for i in range(count)
    ]
    written = page_reply(
        PageFields.of(pb.ListCommoditiesResponse),
        [item.SerializeToString() for item in items],
        token,
    )
    expected = pb.ListCommoditiesResponse(commodities=items, next_page_token=token)
    assert pb.ListCommoditiesResponse.FromString(written) == expected
    assert pb.SearchCommoditiesResponse.FromString(written).commodities == expected.commodities


@pytest.mark.parametrize(
    "message", [events_pb2.Event, pb.ListUnitsResponse, pb.ListCommoditiesRequest]
)
def test_what_is_not_a_page_of_items_and_a_token_is_refused(message: type) -> None:
    with pytest.raises(TypeError):
        PageFields.of(message)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 20_000])
def test_an_item_reply_parses_as_the_response_built_field_by_field(size: int) -> None:
    item = pb.Commodity(id="id-1", description="d" * size, gst_rate="5.00")
    one = ItemField.of(pb.GetCommodityResponse).reply(item.SerializeToString())
    assert one == pb.GetCommodityResponse(commodity=item).SerializeToString()
    items = [item, pb.Commodity(id="id-2"), item]
    many = ItemField.of(pb.BatchGetCommoditiesResponse).replies(
        [i.SerializeToString() for i in items]
    )
    assert pb.BatchGetCommoditiesResponse.FromString(many).commodities == items


@pytest.mark.parametrize("message", [pb.ListCommoditiesResponse, pb.GetCommodityRequest])
def test_what_is_not_one_field_of_messages_is_refused(message: type) -> None:
    with pytest.raises(TypeError):
        ItemField.of(message)
