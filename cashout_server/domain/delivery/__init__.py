"""The outbox and the worker that delivers it to platforms."""
