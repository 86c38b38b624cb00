"""Locations: warehouses, factories, ports and offices."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from masterdata.server.storage.base import Base, ResourceMixin


class LocationRow(ResourceMixin, Base):
    __tablename__ = "locations"

    name: Mapped[str] = mapped_column(String(200))
    place_id: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    pincode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    district: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(100), default="")
    state_code: Mapped[str] = mapped_column(String(10), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(40), default="REGION_UNKNOWN")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index(
            "uq_locations_place_id_live",
            "place_id",
            unique=True,
            sqlite_where=text("delete_time IS NULL AND place_id <> ''"),
            postgresql_where=text("delete_time IS NULL AND place_id <> ''"),
        ),
        Index("ix_locations_name", "name", "id"),
        Index("ix_locations_create_time", "create_time", "id"),
        Index("ix_locations_state_code", "state_code"),
    )
