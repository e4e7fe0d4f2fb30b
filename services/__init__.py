"""gRPC services that wrap the ``anneal`` core library (see docs/architecture.md)."""
