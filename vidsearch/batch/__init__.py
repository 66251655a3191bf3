"""Backfill and re-index on Ray Data (`vidsearch backfill`; the optional extra `backfill`)."""
