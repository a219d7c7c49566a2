"""The staff directory: practitioners, their identifiers (NPI) and qualifications."""
