"""WebSocket signaling for video visits: its own ASGI app, also mounted into the API."""
