"""Data access: the generic async repository, per-family specifics and query building."""
