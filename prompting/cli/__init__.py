"""The headless command line: python -m prompting ..."""
