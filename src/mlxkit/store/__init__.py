"""Content-addressed storage: digests, hashing, trees, the object store and the stat cache."""
