"""Sojourn's own scheduled workflows (Temporal Schedules, sojourn/ground/schedules.py):
the timed-segment sweep, the recommendations refresh and the ad-audience sync."""
