"""`python -m train ...`: a thin command line over animal_audio (prepare, compare, finetune, evaluate)."""
