"""NiceGUI pages and components. Never imports a provider SDK: models come from `llm/`."""
