"""Checkpoints and contact tracing: venues, scans, check-ins and confirmed cases."""
