"""History in MongoDB: the fleet registry, the Redis -> MongoDB sync into buckets, reading tracks back."""
