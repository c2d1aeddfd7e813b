"""The two sides of the comparison, what to call each model, and the states a side can be in.

Every module of the demo names sides and states with these constants, so the API's JSON,
the verdict and the Models panel always use the same words.
"""

from __future__ import annotations

HUBERT = "hubert"
YAMNET = "yamnet"
SIDES = (HUBERT, YAMNET)
SIDE_TITLES = {HUBERT: "HuBERT", YAMNET: "YAMNet"}

READY = "ready"
NOT_LOADED = "not loaded yet"
UNAVAILABLE = "unavailable"
NOT_TRAINED = "not trained yet"
FAILED = "failed on this clip"
LOADING = "still loading"
