"""gRPC boundary: thin servicers, proto <-> domain conversion, and the one error mapping."""
