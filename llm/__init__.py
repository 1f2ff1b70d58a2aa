"""Models, settings and the one streaming loop shared by the page, the CLI and the HTTP API."""
