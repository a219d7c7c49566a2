"""FHIR R4 facade: mappers, search, the /fhir router, and (elsewhere) bundle import."""
