"""The fuzz net: random, well-typed requests for every RPC, on SQLite and PostgreSQL.

Every RPC of every masterdata.v1 service (read from the generated descriptors, so a
new RPC is covered without editing this file) gets random requests — hostile
strings, unknown enum numbers, extreme numbers, deep Structs, broken and real ids,
page tokens and files — sent to two live servers. Neither may answer INTERNAL or
UNKNOWN, both must answer alike, a refused call must write nothing, and both must
stay SERVING (see fuzz/net.py).

MASTERDATA_FUZZ_EXAMPLES sets the examples per RPC (a few in `make test`, many in
`make fuzz`); MASTERDATA_FUZZ_RANDOM=1 draws new examples each run instead of the
same reproducible ones; MASTERDATA_FUZZ_SHRINK=1 shrinks a failing request.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fuzz.contract import Rpc, contract_rpcs
from fuzz.net import Net, running_net
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support import own_database

EXAMPLES = int(os.environ.get("MASTERDATA_FUZZ_EXAMPLES", "6"))
RANDOM = os.environ.get("MASTERDATA_FUZZ_RANDOM", "") not in ("", "0")
SHRINK = os.environ.get("MASTERDATA_FUZZ_SHRINK", "") not in ("", "0")
RPCS = contract_rpcs()

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not RANDOM,
    suppress_health_check=list(HealthCheck),
    # Shrinking replays hundreds of calls against servers whose rows the earlier calls
    # changed: slow, and often not reproducible. The first failing request is reported.
    phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if SHRINK else [])],
    print_blob=RANDOM,
)


@pytest.fixture(scope="module")
async def net(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Net]:
    """A server per backend, each on a database of its own, seeded alike."""
    sqlite = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'masterdata.db'}"
    async with (
        own_database(postgres_url, "masterdata_fuzz") as postgres,
        running_net({"sqlite": sqlite, "postgres": postgres}) as running,
    ):
        yield running


@pytest.mark.parametrize("rpc", RPCS, ids=[rpc.name for rpc in RPCS])
@fuzz_settings
@given(data=st.data())
async def test_random_requests(net: Net, rpc: Rpc, data: Any) -> None:
    request = data.draw(net.requests(rpc), label="request")
    await net.check(rpc, request)


def test_the_contract_is_read_from_the_descriptors() -> None:
    """Every service of the package, every method: nothing filtered out on the way."""
    services = {rpc.method.containing_service.full_name for rpc in RPCS}
    assert len(services) >= 5 and len(RPCS) == len({rpc.path for rpc in RPCS})
    assert {"CreateLocation", "UploadCommodities", "SubscribeEvents"} <= {r.name for r in RPCS}


async def test_every_rpc_was_fuzzed_and_the_servers_still_serve(net: Net) -> None:
    """Runs after the fuzzing above: no RPC was skipped, and both servers are healthy."""
    missing = [rpc.name for rpc in RPCS if rpc.name not in net.tally]
    assert not missing, f"never fuzzed: {missing}"
    await net.assert_serving()
    for name, counts in sorted(net.tally.items()):
        print(f"{name:32} {dict(sorted(counts.items()))}")
