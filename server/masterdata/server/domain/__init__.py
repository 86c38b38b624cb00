"""Pure domain rules: no SQLAlchemy, no gRPC."""
