"""The recorder: the durable pull consumer and the log writer process that appends to the event log."""
