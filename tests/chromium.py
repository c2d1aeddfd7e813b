"""Debian's chromium as the browser tests drive it (conftest's `browser` fixture), and their page sizes."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # A fake microphone (a beeping tone) that needs no permission prompt: lets the test record.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
TIMEOUT_MS = 120_000
