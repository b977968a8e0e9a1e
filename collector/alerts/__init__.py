"""Alerts: rules that fire on pair events, triage state, and delivery to webhooks."""
