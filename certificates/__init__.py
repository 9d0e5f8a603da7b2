"""Certificates from abroad scanned at checkpoints: EU DCC and SMART Health Cards."""
