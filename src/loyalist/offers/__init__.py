"""Personalised offers: birthday, regulars-only, product recommendations, event invitations."""
