"""Files of a turn: storing them (store.py)."""
