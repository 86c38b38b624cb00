"""Rules of a Location: coordinates, time zone, codes, and the derived region."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from functools import cache
from typing import Any

from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.domain.regions import region_of

_STATE_CODE = re.compile(r"[A-Za-z]{2,3}")
_INDIAN_PIN = re.compile(r"[1-9][0-9]{5}")
_POSTAL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{1,18}")
_INDIA = {"india", "in", "ind", "bharat"}


@cache
def iana_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_location(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """Add a violation for every field of a candidate location that breaks a rule."""
    latitude, longitude = values.get("latitude"), values.get("longitude")
    if latitude is not None and not -90 <= latitude <= 90:
        violations.add("latitude", "must be between -90 and 90", "OUT_OF_RANGE")
    if longitude is not None and not -180 <= longitude <= 180:
        violations.add("longitude", "must be between -180 and 180", "OUT_OF_RANGE")
    timezone = values.get("timezone") or ""
    if timezone and timezone not in iana_time_zones():
        violations.add(
            "timezone", "must be an IANA time zone such as Asia/Kolkata", "INVALID_TIMEZONE"
        )
    state_code = values.get("state_code") or ""
    if state_code and not _STATE_CODE.fullmatch(state_code):
        violations.add(
            "state_code", "must be a 2 or 3 letter state code such as MH", "INVALID_STATE_CODE"
        )
    pincode = values.get("pincode") or ""
    is_indian = (values.get("country") or "").strip().lower() in _INDIA
    if pincode and is_indian and not _INDIAN_PIN.fullmatch(pincode):
        violations.add(
            "pincode", "an Indian PIN code has six digits, not starting with 0", "INVALID_PINCODE"
        )
    elif pincode and not _POSTAL_CODE.fullmatch(pincode):
        violations.add(
            "pincode",
            "must be a postal code of letters, digits, spaces or dashes",
            "INVALID_PINCODE",
        )


def derive_location(values: Mapping[str, Any]) -> dict[str, Any]:
    """Output-only values: the upper-cased state code and its region."""
    state_code = (values.get("state_code") or "").upper()
    return {"state_code": state_code, "region": f"REGION_{region_of(state_code)}"}
