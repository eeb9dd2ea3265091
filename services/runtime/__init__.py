"""The runtime: the embedded nats-server, the supervisor of the roles, child-process lifecycle."""
