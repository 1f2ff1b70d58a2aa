"""The HTTP endpoint: `POST /ask` streams an answer as plain text or Server-Sent Events."""
