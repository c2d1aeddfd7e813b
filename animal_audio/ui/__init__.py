"""The Gradio page, one module per tab: imports gradio, so `animal_audio/__init__` never imports it."""
