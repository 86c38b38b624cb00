"""What a batch does, decided in memory: create, update, leave unchanged, or reject.

Matching: in UPSERT mode a row with an id updates that
commodity, a row without one the live commodity with the same (lower(name),
category), or creates one; in CREATE_ONLY mode ids are ignored and a match is
DUPLICATE_NAME. Duplicates within the file are found here, not in the database:
`FileState` remembers the key and target of every accepted row of the import,
so the first occurrence wins and later ones are DUPLICATE_IN_FILE.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from masterdata.server.bulk.candidates import (
    DEFAULTS,
    WRITABLE,
    Candidate,
    RowFailure,
    finalise,
)
from masterdata.server.storage.random_ids import random_ids

Key = tuple[str, str]


@dataclass
class FileState:
    """What earlier rows of this import claimed: keys and stored ids -> row number."""

    keys: dict[Key, int] = field(default_factory=dict)
    targets: dict[uuid.UUID, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """The stored rows one batch can match: by id (deleted too) and live ones by key."""

    by_id: Mapping[uuid.UUID, Mapping[str, Any]]
    by_key: Mapping[Key, Mapping[str, Any]]

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]]) -> Stored:
        by_id, by_key = {}, {}
        for row in rows:
            by_id[row["id"]] = row
            if row["delete_time"] is None:
                by_key[(row["name"].lower(), row["category"])] = row
        return cls(by_id, by_key)


@dataclass(frozen=True)
class Audit:
    """Who writes, and when: the batch transaction's actor and clock."""

    actor: str
    now: datetime


@dataclass
class Plan:
    """A batch's decisions; `creates`/`updates` are complete rows of the table."""

    creates: list[dict[str, Any]] = field(default_factory=list)
    #: Per create, what its fields but its own (payloads.OWN) and audit ones are a
    #: function of (its shape's checks), or None.
    create_shapes: list[Any] = field(default_factory=list)
    updates: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    unchanged: int = 0
    failures: list[RowFailure] = field(default_factory=list)
    numbers: dict[uuid.UUID, int] = field(default_factory=dict)
    #: (commodity id, variety names) of accepted rows with a Varieties cell.
    varieties: list[tuple[uuid.UUID, tuple[str, ...]]] = field(default_factory=list)


def _duplicate(number: int, field_name: str, message: str, reason: str) -> RowFailure:
    return RowFailure(number, field_name, reason, message)


def _target(
    candidate: Candidate, stored: Stored, upsert: bool
) -> tuple[Mapping[str, Any] | None, RowFailure | None]:
    """The stored row a candidate updates (None: it creates), or why it cannot."""
    key, number = candidate.key, candidate.number
    by_key = stored.by_key.get(key)
    if upsert and candidate.id is not None:
        row = stored.by_id.get(candidate.id)
        if row is None or row["delete_time"] is not None:
            state = "is deleted" if row is not None else "does not exist"
            return None, _duplicate(number, "id", f"commodity {candidate.id} {state}", "NOT_FOUND")
        if by_key is not None and by_key["id"] != row["id"]:
            message = f"another live commodity ({by_key['id']}) has this name and category"
            return None, _duplicate(number, "name", message, "DUPLICATE_NAME")
        return row, None
    if by_key is not None and not upsert:
        message = f"a live commodity with this name and category exists ({by_key['id']})"
        return None, _duplicate(number, "name", message, "DUPLICATE_NAME")
    return by_key, None


def _match(
    candidate: Candidate, stored: Stored, state: FileState, upsert: bool
) -> tuple[Mapping[str, Any] | None, RowFailure | None]:
    """The target of a candidate; earlier rows of the file come first.

    The file is checked before the stored rows: a row repeating one that an
    earlier batch already wrote is a duplicate in the file, not of the database.
    """
    earlier = state.keys.get(candidate.key)
    if earlier is not None:
        message = f"row {earlier} has the same name and category"
        return None, _duplicate(candidate.number, "name", message, "DUPLICATE_IN_FILE")
    target, rejected = _target(candidate, stored, upsert)
    if rejected is None and target is not None and target["id"] in state.targets:
        message = f"row {state.targets[target['id']]} already imports commodity {target['id']}"
        return None, _duplicate(candidate.number, "id", message, "DUPLICATE_IN_FILE")
    return target, rejected


def plan_batch(
    candidates: Sequence[Candidate], stored: Stored, state: FileState, *, upsert: bool, audit: Audit
) -> Plan:
    """Decide every candidate of a batch, in file order."""
    plan = Plan()
    fresh_ids = iter(random_ids(len(candidates)))
    stamps = _Stamps(audit)
    for candidate in candidates:
        target, rejected = _match(candidate, stored, state, upsert)
        if rejected is None:
            rejected = _decide(candidate, target, plan, stamps, fresh_ids)
        if rejected is not None:
            plan.failures.append(rejected)
            continue
        state.keys[candidate.key] = candidate.number
        if target is not None:
            state.targets[target["id"]] = candidate.number
    return plan


class _Stamps:
    """The audit columns a batch sets: on every row it writes, and on its creates."""

    __slots__ = ("created", "touched")

    def __init__(self, audit: Audit) -> None:
        self.touched = {"update_time": audit.now, "updated_by": audit.actor, "delete_time": None}
        self.created = {"create_time": audit.now, "created_by": audit.actor, "revision": 1}
        self.created |= self.touched


def _decide(
    candidate: Candidate,
    target: Mapping[str, Any] | None,
    plan: Plan,
    stamps: _Stamps,
    fresh_ids: Iterator[uuid.UUID],
) -> RowFailure | None:
    """Add the create or update of an accepted candidate to the plan."""
    shape = None
    if target is None and candidate.as_create is not None:
        final, shape = candidate.as_create, candidate.checks
    else:
        base = DEFAULTS if target is None else {name: target[name] for name in WRITABLE}
        final = finalise(candidate.number, base | candidate.values, own=True)
    if isinstance(final, RowFailure):
        return final
    if candidate.varieties:
        commodity = target["id"] if target is not None else next(fresh_ids)
        final["id"] = commodity
        plan.varieties.append((commodity, candidate.varieties))
    # `final` is this row's own dict (finalise copies), so it becomes the row itself.
    if target is None:
        if "id" not in final:  # a row with varieties took its id above
            final["id"] = next(fresh_ids)
        final.update(stamps.created)
        plan.creates.append(final)
        plan.create_shapes.append(shape)
        plan.numbers[final["id"]] = candidate.number
        return None
    changed = [name for name in WRITABLE if not _same(final[name], target[name])]
    if not changed:
        plan.unchanged += 1
        return None
    final.update(
        id=target["id"],
        create_time=target["create_time"],
        created_by=target["created_by"],
        revision=target["revision"] + 1,
    )
    final.update(stamps.touched)
    plan.updates.append((final, changed))
    plan.numbers[final["id"]] = candidate.number
    return None


def _same(new: Any, stored: Any) -> bool:
    """Equal values; an empty JSON document and none are the same.

    A Commodity message cannot tell them apart (the codec sends an empty Struct
    as unset), so a ROWS export re-imported would otherwise "change" {} to none.
    """
    return new == stored or (new in (None, {}) and stored in (None, {}))
