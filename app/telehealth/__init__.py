"""Video consultations: lifecycle, participants, join tokens, guests, chat, consent, recordings."""
