"""`masterdata seed`: standard reference data (trade terms, cotton templates, commodities)."""

from masterdata.server.seed.loader import SeedError, SeedReport, Tally, seed_reference_data

__all__ = ["SeedError", "SeedReport", "Tally", "seed_reference_data"]
