"""Facilities: the organisations of the hospital network (and those it exchanges data with)."""
