"""Shared event settings and the small browser scripts the page runs."""

from __future__ import annotations

from typing import Any

# Page-only handlers stay out of the API docs and the Python client; scripts use the named
# endpoints in components/api_endpoints.py.
PAGE_ONLY: dict[str, Any] = {"api_visibility": "private"}

# Plotly sizes a chart when it is drawn; a chart drawn in a hidden tab keeps a wrong size
# (overlapping titles, cut legends) until the window is resized. Plotly redraws every visible
# chart on the window's resize event, so fire one once the tab is shown (and again a little
# later, after slower layouts settle).
RESIZE_JS = """() => {
  const fire = () => window.dispatchEvent(new Event('resize'));
  requestAnimationFrame(fire);
  setTimeout(fire, 250);
}"""

# After a run: resize the visible charts and, when it succeeded (the status starts with ✓),
# bring the results into view.
AFTER_RUN_JS = """(status) => {
  const fire = () => window.dispatchEvent(new Event('resize'));
  requestAnimationFrame(fire);
  setTimeout(fire, 250);
  if (typeof status === 'string' && status.trim().startsWith('✓')) {
    setTimeout(() => {
      const results = document.getElementById('results');
      if (results) results.scrollIntoView({behavior: 'smooth', block: 'start'});
    }, 120);
  }
}"""
