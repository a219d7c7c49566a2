"""Broker channel and presence-room names shared by the API, signaling and media.

- ``signaling:peer:<peer_id>``: a participant's inbox; whatever is published there reaches that
  participant's socket (on whichever signaling instance holds it).
- ``signaling:room:<room>``: room events (joins, leaves, admissions, chat, consent, end), one
  envelope ``{"event": ..., ...}`` that each connection turns into protocol frames.
- presence room ``signaling:room:<room>``: who is connected, with role, name and state.
"""

from __future__ import annotations


def peer_channel(peer_id: str) -> str:
    return f"signaling:peer:{peer_id}"


def room_channel(room: str) -> str:
    return f"signaling:room:{room}"


def presence_room(room: str) -> str:
    return f"signaling:room:{room}"
