"""The event feed: reading the event log, the per-process hub, subscriptions."""
