"""Cotton parameter templates and a few sample commodities, as plain data.

Records are proto messages in JSON form (proto field names). A commodity's
`varieties` are not a Commodity field: the loader creates them as Variety
children of that commodity. HSN codes are the Indian tariff headings at 6 or 8
digits, gst_rate the rate for unbranded goods; both are samples to edit, not
tax advice.
"""

from __future__ import annotations

from typing import Any

COTTON_CATEGORY = "Fibre"


def _numeric(
    order: int, name: str, unit: str, low: str, high: str, default: str, text: str
) -> dict[str, Any]:
    return {
        "category": COTTON_CATEGORY,
        "parameter_name": name,
        "parameter_type": "PARAMETER_TYPE_NUMERIC",
        "unit": unit,
        "min_value": low,
        "max_value": high,
        "default_value": default,
        "is_mandatory": order <= 5,
        "display_order": order,
        "description": text,
        "source": "seed",
    }


#: HVI (high volume instrument) parameters Indian cotton contracts are written on.
PARAMETER_TEMPLATES: list[dict[str, Any]] = [
    _numeric(1, "Staple Length", "mm", "20", "40", "29", "2.5% span length (UHML) of the fibre."),
    _numeric(2, "Micronaire", "µg/inch", "2.5", "6.0", "4.2", "Fineness and maturity (air flow)."),
    _numeric(3, "Strength", "g/tex", "20", "40", "29", "Bundle strength at 3.2 mm gauge."),
    _numeric(4, "Trash", "%", "0", "10", "3", "Non-lint content (leaf, seed coat, dust)."),
    _numeric(5, "Moisture", "%", "0", "12", "8", "Moisture content; above 8.5% invites claims."),
    _numeric(6, "Uniformity Index", "%", "75", "90", "82", "Mean length as a % of UHML."),
    {
        "category": COTTON_CATEGORY,
        "parameter_name": "Colour Grade",
        "parameter_type": "PARAMETER_TYPE_TEXT",
        "default_value": "31-1",
        "display_order": 7,
        "description": "USDA colour grade (Rd and +b), such as 31-1 (Middling) or 21-2.",
        "source": "seed",
    },
]

COMMODITIES: list[dict[str, Any]] = [
    {
        "name": "Cotton",
        "category": COTTON_CATEGORY,
        "hsn_code": "520100",
        "hs_code_6digit": "520100",
        "gst_rate": "5.00",
        "description": "Raw cotton lint, not carded or combed, in pressed bales.",
        "base_unit": "KG",
        "trade_unit": "BALE",
        "rate_unit": "CANDY",
        "standard_weight_per_unit": "170",
        "default_currency": "INR",
        "supported_currencies": ["INR", "USD"],
        "international_pricing_unit": "LB",
        "quality_standards": ["CAI", "ICA Bremen"],
        "major_producing_countries": ["IN", "CN", "US", "BR", "PK"],
        "major_consuming_countries": ["CN", "IN", "PK", "BD", "VN", "TR"],
        "trading_hubs": ["Rajkot", "Ahmedabad", "Adilabad", "Akola"],
        "traded_on_exchanges": ["MCX", "ICE"],
        "price_volatility": "PRICE_VOLATILITY_HIGH",
        "seasonal_commodity": True,
        "delivery_tolerance_pct": "2.00",
        "weight_tolerance_pct": "0.50",
        "harvest_season": {"India": {"start": "October", "end": "March"}},
        "standard_lot_size": {"quantity": "100", "unit": "BALE"},
        "varieties": [
            {
                "name": "Shankar-6",
                "code": "S6",
                "is_standard": True,
                "description": "Gujarat long staple, 29 mm, the benchmark of Indian cotton.",
            },
            {"name": "J-34", "code": "J34", "description": "North Indian medium staple, 27 mm."},
            {"name": "MCU-5", "code": "MCU5", "description": "Tamil Nadu extra-long staple."},
            {"name": "DCH-32", "code": "DCH32", "description": "Extra-long staple, 34+ mm."},
        ],
    },
    {
        "name": "Wheat",
        "category": "Cereals",
        "hsn_code": "10019910",
        "hs_code_6digit": "100199",
        "gst_rate": "0.00",
        "description": "Wheat grain for milling, unbranded.",
        "trade_unit": "QUINTAL",
        "rate_unit": "QUINTAL",
        "traded_on_exchanges": ["NCDEX"],
        "trading_hubs": ["Indore", "Khanna", "Kota"],
        "price_volatility": "PRICE_VOLATILITY_LOW",
        "seasonal_commodity": True,
        "shelf_life_days": 365,
        "varieties": [
            {
                "name": "Lokwan",
                "code": "LOKWAN",
                "is_standard": True,
                "description": "Bold-grained Madhya Pradesh wheat.",
            },
            {"name": "Sharbati", "code": "SHARBATI", "description": "Premium Sehore wheat."},
        ],
    },
    {
        "name": "Chana",
        "category": "Pulses",
        "hsn_code": "07132020",
        "hs_code_6digit": "071320",
        "gst_rate": "0.00",
        "description": "Bengal gram (desi chickpea), whole, unbranded.",
        "trade_unit": "QUINTAL",
        "rate_unit": "QUINTAL",
        "traded_on_exchanges": ["NCDEX"],
        "trading_hubs": ["Bikaner", "Indore", "Latur"],
        "price_volatility": "PRICE_VOLATILITY_MEDIUM",
        "shelf_life_days": 365,
        "varieties": [
            {"name": "Desi", "code": "DESI", "is_standard": True},
            {"name": "Kabuli", "code": "KABULI", "description": "Large cream-coloured seeds."},
        ],
    },
    {
        "name": "Soybean",
        "category": "Oilseeds",
        "hsn_code": "12019000",
        "hs_code_6digit": "120190",
        "gst_rate": "5.00",
        "description": "Soya beans for crushing, not for sowing.",
        "trade_unit": "QUINTAL",
        "rate_unit": "QUINTAL",
        "traded_on_exchanges": ["NCDEX", "CBOT"],
        "trading_hubs": ["Indore", "Latur"],
        "price_volatility": "PRICE_VOLATILITY_MEDIUM",
        "seasonal_commodity": True,
        "shelf_life_days": 270,
    },
    {
        "name": "Guar Seed",
        "category": "Pulses",
        "hsn_code": "07133990",
        "hs_code_6digit": "071339",
        "gst_rate": "0.00",
        "description": "Cluster-bean seed, the raw material of guar gum.",
        "trade_unit": "QUINTAL",
        "rate_unit": "QUINTAL",
        "traded_on_exchanges": ["NCDEX"],
        "trading_hubs": ["Jodhpur", "Bikaner", "Sri Ganganagar"],
        "price_volatility": "PRICE_VOLATILITY_VERY_HIGH",
        "seasonal_commodity": True,
        "shelf_life_days": 365,
    },
]
