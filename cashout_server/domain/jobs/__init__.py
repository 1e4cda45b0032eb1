"""Scheduled jobs: their runs, the scheduler lease and triggering a job now."""
