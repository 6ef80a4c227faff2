"""The face pipeline: decode (images), detect -> align -> embed (embedder), decide (metric)."""
