"""Residents and their health records: the operations that register a resident, change them and record their
doses, tests and recoveries (`service`), called by the admin views, the card desk and the importer alike."""
