"""gRPC entry points: thin servicers, error mapping and interceptors."""
