"""Metrics: views, clicks and spend fetched from platforms per connection, stored once per point."""
