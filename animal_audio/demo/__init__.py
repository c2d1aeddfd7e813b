"""What the app does, without the UI (models, classify, training, text): app.py only lays out and wires."""
