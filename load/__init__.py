"""Load tests (Locust) and the benchmark that measures what the service holds."""
