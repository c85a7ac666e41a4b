"""An example third-party OmniQ backend written from docs/plugins/writing-a-backend.md alone."""
