"""OmniQ's NATS backend: all four storage roles on nats-server with JetStream."""
