"""Purchases: what customers bought and returned. Tiers (spend) and analytics read it."""
