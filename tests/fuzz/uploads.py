"""Client streams as a client sends them: the options first, then a file in pieces."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

from fuzz.contract import Rpc, message_class
from fuzz.messages import Context, field_values, messages


def client_streams(rpc: Rpc, ctx: Context) -> st.SearchStrategy[list[Any]]:
    """Tame: an upload as a client sends one. Otherwise also any messages in any order."""
    upload = _options_then_chunks(rpc, ctx)
    if ctx.tame:
        return upload
    return st.one_of(st.lists(messages(rpc.request_type, ctx), max_size=4), upload)


def _options_then_chunks(rpc: Rpc, ctx: Context) -> st.SearchStrategy[list[Any]]:
    """An upload as a client sends one: the first oneof member (the options), then a
    file split into pieces of the bytes member."""
    oneof = next(iter(rpc.request_type.oneofs), None)
    chunk = oneof and next((f for f in oneof.fields if f.type == f.TYPE_BYTES), None)
    if oneof is None or chunk is None:
        return st.lists(messages(rpc.request_type, ctx), max_size=4)
    head_field = oneof.fields[0]
    request_cls = message_class(rpc.request_type)

    def assemble(head: Any, data: bytes, cuts: list[int]) -> list[Any]:
        first = request_cls()
        getattr(first, head_field.name).CopyFrom(head)
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        pieces = [data[a:b] for a, b in itertools.pairwise(points)]
        return [first] + [request_cls(**{chunk.name: p}) for p in pieces]

    data = field_values(chunk, ctx)
    if ctx.spiked:
        data = st.one_of(data, data, field_values(chunk, ctx.hostile))
    return st.builds(
        assemble,
        field_values(head_field, ctx),
        data,
        st.lists(st.integers(0, 10**6), max_size=4),
    )
