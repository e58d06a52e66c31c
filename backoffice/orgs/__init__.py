"""Organizations, their locations, checkpoints and staff: the operations that create, change and delete them
(`service`), called by the admin views, the API, the CLI and the importer alike."""
