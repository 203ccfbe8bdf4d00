"""OpenAI-compatible language models: client, prompts, parsing, cache and generation."""
