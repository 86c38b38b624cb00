"""Standard trade terms of Indian and international commodity trade, as plain data.

Keyed by resource name (the ResourceSpec.name of each family); each record is the
proto message in JSON form (proto field names), created as is. Codes are the
keys other systems match on, so they never change once released; add rows, do
not rename them.
"""

from __future__ import annotations

from typing import Any

_SHARED = "BANK_CHARGE_BEARER_SHARED"


def _delivery(code: str, name: str, freight: bool, insurance: bool, text: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "includes_freight": freight,
        "includes_insurance": insurance,
        "description": text,
    }


TRADE_TERMS: dict[str, list[dict[str, Any]]] = {
    "trade_type": [
        {"code": "DOMESTIC", "name": "Domestic", "description": "Buyer and seller in India."},
        {"code": "IMPORT", "name": "Import", "description": "Goods brought into India."},
        {"code": "EXPORT", "name": "Export", "description": "Goods shipped out of India."},
        {
            "code": "HIGH_SEAS",
            "name": "High-Seas Sale",
            "description": "Sale of imported goods while in transit, before customs clearance.",
        },
        {
            "code": "MERCHANT",
            "name": "Merchant Trade",
            "description": "Goods bought abroad and sold abroad without entering India.",
        },
    ],
    "bargain_type": [
        {"code": "DIRECT", "name": "Direct", "description": "Struck between the principals."},
        {
            "code": "BROKER",
            "name": "Through Broker",
            "description": "Struck through a broker, who earns a brokerage.",
        },
        {"code": "SPOT", "name": "Spot", "description": "Ready goods for immediate delivery."},
        {
            "code": "FORWARD",
            "name": "Forward",
            "description": "Delivery at a future date at a price fixed today.",
            "requires_approval": True,
        },
        {
            "code": "TENDER",
            "name": "Tender / Auction",
            "description": "Won in a tender or auction (e.g. CCI cotton e-auction).",
            "requires_approval": True,
        },
    ],
    "passing_term": [
        {
            "code": "SELLER_PASSING",
            "name": "Seller's Godown Passing",
            "description": "Quality accepted at the seller's godown before dispatch.",
        },
        {
            "code": "MILL_PASSING",
            "name": "Buyer's Mill Passing",
            "description": "Quality accepted on arrival at the buyer's mill after testing.",
            "requires_quality_test": True,
        },
        {
            "code": "LAB_PASSING",
            "name": "Third-Party Lab Passing",
            "description": "Quality as certified by an agreed independent laboratory.",
            "requires_quality_test": True,
        },
        {
            "code": "SAMPLE_PASSING",
            "name": "Sample Passing",
            "description": "Goods must match a sealed sample approved by both sides.",
        },
    ],
    "weightment_term": [
        {
            "code": "SELLER_WEIGHT",
            "name": "Seller's Weight",
            "description": "The weight at the seller's weighbridge is final.",
        },
        {
            "code": "BUYER_WEIGHT",
            "name": "Buyer's Weight",
            "description": "The weight at the buyer's weighbridge is final.",
        },
        {
            "code": "PUBLIC_WEIGHBRIDGE",
            "name": "Public Weighbridge",
            "description": "The weight at an agreed public or railway weighbridge is final.",
        },
        {
            "code": "NET_LESS_TARE",
            "name": "Net Weight less 0.5% Tare",
            "description": "Gross weight less a flat 0.5% for packing (bale hoops, gunny).",
            "weight_deduction_percent": "0.50",
        },
    ],
    "delivery_term": [
        # Incoterms 2020. includes_insurance only where the seller must insure (CIF, CIP).
        _delivery("EXW", "Ex Works", False, False, "Buyer collects at the seller's premises."),
        _delivery("FCA", "Free Carrier", False, False, "Delivered to the buyer's carrier."),
        _delivery("FAS", "Free Alongside Ship", False, False, "Alongside the vessel at port."),
        _delivery("FOB", "Free On Board", False, False, "Loaded on board at the port of loading."),
        _delivery("CFR", "Cost and Freight", True, False, "Seller pays freight to the port."),
        _delivery("CIF", "Cost, Insurance and Freight", True, True, "CFR plus marine insurance."),
        _delivery("CPT", "Carriage Paid To", True, False, "Seller pays carriage to the place."),
        _delivery("CIP", "Carriage and Insurance Paid To", True, True, "CPT plus insurance."),
        _delivery("DAP", "Delivered At Place", True, False, "Ready for unloading at the place."),
        _delivery("DPU", "Delivered at Place Unloaded", True, False, "Unloaded at the place."),
        _delivery("DDP", "Delivered Duty Paid", True, False, "Delivered with import duties paid."),
        # Indian domestic bases.
        _delivery("FOR", "Free On Road / Rail", True, False, "Delivered at the buyer's station."),
        _delivery("EX_GODOWN", "Ex-Godown", False, False, "Buyer lifts from the seller's godown."),
        _delivery("EX_GIN", "Ex-Gin", False, False, "Cotton bales lifted at the ginning factory."),
    ],
    "payment_term": [
        {
            "code": "ADVANCE",
            "name": "100% Advance",
            "description": "Full payment before dispatch.",
            "payment_percentage": "100.00",
            "payment_methods_supported": ["RTGS", "NEFT"],
        },
        {
            "code": "ADV30_BAL_DELIVERY",
            "name": "30% Advance, Balance Against Delivery",
            "description": "30% with the order, the balance on delivery.",
            "payment_percentage": "30.00",
            "payment_methods_supported": ["RTGS", "NEFT"],
        },
        {
            "code": "CAD",
            "name": "Cash Against Documents",
            "description": "Paid when the shipping documents are presented.",
            "payment_methods_supported": ["RTGS", "NEFT", "SWIFT"],
        },
        {
            "code": "AGAINST_DELIVERY",
            "name": "Against Delivery",
            "description": "Paid when the goods are delivered.",
            "payment_methods_supported": ["RTGS", "NEFT", "CHEQUE"],
        },
        *(
            {
                "code": f"NET{days}",
                "name": f"{days} Days Credit",
                "description": f"Paid within {days} days of the invoice.",
                "days": days,
                "payment_methods_supported": ["RTGS", "NEFT", "CHEQUE"],
            }
            for days in (7, 15, 30, 45, 60)
        ),
        {
            "code": "LC_SIGHT",
            "name": "LC at Sight",
            "description": "Irrevocable letter of credit, paid on presentation of documents.",
            "currency": "USD",
            "supports_multi_currency": True,
            "supports_letter_of_credit": True,
            "lc_types_supported": ["SIGHT"],
            "bank_charges_borne_by": _SHARED,
            "forex_adjustment_applicable": True,
            "payment_methods_supported": ["LC"],
            "swift_required": True,
        },
        {
            "code": "LC_SIGHT_CONFIRMED",
            "name": "Confirmed LC at Sight",
            "description": "Sight letter of credit confirmed by a second bank.",
            "currency": "USD",
            "supports_multi_currency": True,
            "supports_letter_of_credit": True,
            "lc_types_supported": ["SIGHT"],
            "lc_confirmation_required": True,
            "bank_charges_borne_by": "BANK_CHARGE_BEARER_BUYER",
            "forex_adjustment_applicable": True,
            "payment_methods_supported": ["LC"],
            "swift_required": True,
        },
        {
            "code": "LC_USANCE_90",
            "name": "Usance LC 90 Days",
            "description": "Letter of credit paid 90 days after the bill of lading.",
            "days": 90,
            "currency": "USD",
            "supports_multi_currency": True,
            "supports_letter_of_credit": True,
            "lc_types_supported": ["USANCE"],
            "bank_charges_borne_by": _SHARED,
            "forex_adjustment_applicable": True,
            "payment_methods_supported": ["LC"],
            "swift_required": True,
        },
        {
            "code": "DP",
            "name": "Documents Against Payment",
            "description": "The bank releases documents when the buyer pays (D/P).",
            "currency": "USD",
            "supports_multi_currency": True,
            "forex_adjustment_applicable": True,
            "payment_methods_supported": ["SWIFT"],
            "swift_required": True,
        },
        {
            "code": "DA60",
            "name": "Documents Against Acceptance 60 Days",
            "description": "Documents released on acceptance of a 60-day bill (D/A).",
            "days": 60,
            "currency": "USD",
            "supports_multi_currency": True,
            "forex_adjustment_applicable": True,
            "payment_methods_supported": ["SWIFT"],
            "swift_required": True,
        },
        {
            "code": "TT_ADVANCE",
            "name": "TT in Advance",
            "description": "Telegraphic transfer of the full value before shipment.",
            "payment_percentage": "100.00",
            "currency": "USD",
            "supports_multi_currency": True,
            "bank_charges_borne_by": "BANK_CHARGE_BEARER_BUYER",
            "payment_methods_supported": ["SWIFT"],
            "swift_required": True,
        },
    ],
}
