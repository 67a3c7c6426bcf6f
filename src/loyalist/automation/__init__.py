"""Automations: a trigger, optional conditions and actions (some delayed), each run once per
customer and trigger instance."""
