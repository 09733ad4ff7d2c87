"""The chat's views, by topic: pages (reading and managing conversations), turns (sending,
stopping, retrying) and stream (the live reply, as server-sent events)."""
