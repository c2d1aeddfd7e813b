"""Plotly figures shared by the app and the reports."""
