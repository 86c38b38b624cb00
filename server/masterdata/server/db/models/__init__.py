"""ORM models, one module per entity family; importing this registers every table."""

from masterdata.server.db.models.location import LocationRow

__all__ = ["LocationRow"]
