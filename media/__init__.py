"""Server-side WebRTC peers (aiortc): recording, data-channel vitals, device simulator.

Arrives with the telehealth and monitoring issues; see media/README.md.
"""
