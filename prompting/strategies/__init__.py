"""Prompting strategies: registry, templates, class sets, DCLIP wording, descriptions files, WaffleCLIP."""
