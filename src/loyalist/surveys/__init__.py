"""Surveys: definitions and ready templates, personal/anonymous/portal answering, invitations
with reminders and a fatigue cap, and NPS/CSAT results with confidence intervals."""
