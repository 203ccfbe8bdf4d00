"""Plotly figures built from plain results, one module per view (never imports gradio)."""
