"""Download the whole comparison: a self-contained HTML report, CSV and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr

from components.panels.downloads import download_file
from components.panels.events import PAGE_ONLY
from components.panels.results_panel import lookup
from components.report import render_html_report
from prompting.evaluation.export import comparison_to_csv
from prompting.service.session_store import ResultStore
from prompting.service.workflows import comparison_payload


@dataclass
class ExportPanel:
    """Handles of the export tab."""

    button: gr.Button
    files: gr.File


def build_export_panel() -> ExportPanel:
    """The tab's content (call inside a gr.Tab)."""
    gr.Markdown(
        "Save this comparison to share it: the **HTML report** opens in any browser without internet "
        "(summary, tables and interactive charts); **CSV** has one row per image and strategy for spreadsheets; "
        "**JSON** holds every number for scripts.",
        elem_classes=["help"],
    )
    button = gr.Button("Create report files", variant="primary", elem_id="export-btn")
    files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="export-files")
    return ExportPanel(button, files)


def wire_export_panel(panel: ExportPanel, token: gr.State, store: ResultStore) -> None:
    """Write the three files for the session's last run."""

    def export(tok: str | None) -> list[str]:
        comparison = lookup(store, tok).comparison
        payload = json.dumps(comparison_payload(comparison), ensure_ascii=False, indent=2)
        return [
            download_file("prompt-workbench-report.html", render_html_report(comparison)),
            download_file("prompt-workbench-results.csv", comparison_to_csv(comparison)),
            download_file("prompt-workbench-results.json", payload),
        ]

    panel.button.click(export, token, panel.files, **PAGE_ONLY)
