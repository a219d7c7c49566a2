"""Outgoing notifications through a transactional outbox (see service.py)."""
