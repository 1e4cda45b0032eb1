"""Automation rules: price drops, relisting stale listings, follow-ups to quiet leads."""
