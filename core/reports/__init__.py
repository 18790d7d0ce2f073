"""Stage 7, reports: the PDF a clinician files and the batch table."""
