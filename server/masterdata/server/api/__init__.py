"""gRPC entry points: thin servicers, error mapping and the call boundary."""
