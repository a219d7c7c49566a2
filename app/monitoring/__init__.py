"""Remote monitoring: devices, the vitals ingestion pipeline, NEWS2, alarms and live dashboards."""
