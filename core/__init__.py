"""Shared plumbing every domain uses: settings, storage port and adapters, errors, crypto."""
