"""Negotiation: accepting, countering or declining offers, never below the floor price."""
