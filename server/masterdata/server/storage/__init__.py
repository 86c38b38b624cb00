"""Storage: engine, ORM models, unit of work and migrations."""
