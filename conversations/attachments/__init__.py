"""Files a person attaches to a message: read and checked from their content (intake), kept
through the storage API (store), sent to the relay as input parts (parts)."""
