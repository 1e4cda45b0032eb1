"""Payments: Stripe payment links and Checkout Sessions, and the signed webhook that records sales."""
