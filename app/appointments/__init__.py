"""Appointments: types, clinicians' weekly hours, free slots, bookings, the waitlist."""
