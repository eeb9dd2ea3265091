"""The projector: the live fold of the log into the read store, its change notices and its state."""
