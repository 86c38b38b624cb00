"""`masterdata relay`: every committed event, in sequence order, into a NATS JetStream stream once.

settings.py (what an operator tunes), envelope.py (an event as a NATS message),
outbox.py (the events table: pages, wake-ups, lag), stream.py (the JetStream
stream: made if missing, its last event read back), publisher.py (pipelined,
fenced publishes), leadership.py (leader or standby), metrics.py (/metrics),
command.py (the loop that joins them). docs/relay.md has the guarantees.
"""
