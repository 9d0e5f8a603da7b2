"""Ministry reports: counters kept on write, small-cell suppression, CSV and the dashboard."""
