"""Gradio pieces of the page: build_*() makes a panel, wire_*() connects its events."""
