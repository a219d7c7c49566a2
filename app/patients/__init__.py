"""The clinical record: demographics, history, care plans, prescriptions."""
