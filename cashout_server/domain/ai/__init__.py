"""Text generation: reply drafts and listing copy from an OpenAI-compatible model or templates."""
