"""Hospital Hub API service."""
