"""Indian trading regions by GST/vehicle state code."""

from __future__ import annotations

REGION_STATES: dict[str, tuple[str, ...]] = {
    "WEST": ("MH", "GJ", "RJ", "GA"),
    "SOUTH": ("TN", "KA", "KL", "AP", "TS", "PY"),
    "NORTH": ("PB", "HR", "UP", "UK", "HP", "DL", "JK", "LA", "CH"),
    "CENTRAL": ("MP", "CG"),
    "EAST": ("WB", "OD", "JH", "BR"),
    "NORTHEAST": ("AS", "NL", "TR", "MZ", "MN", "SK", "AR", "ML"),
}

_REGION_OF = {code: region for region, codes in REGION_STATES.items() for code in codes}


def region_of(state_code: str) -> str:
    """The region name (WEST, ..., or UNKNOWN) of a state code, case-insensitive."""
    return _REGION_OF.get(state_code.strip().upper(), "UNKNOWN")
