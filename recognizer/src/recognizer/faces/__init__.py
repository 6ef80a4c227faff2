"""The face pipeline: decode (images), detect -> align -> embed (embedder), decide (metric).

`protocol.Embedder` is what the rest of the service holds: `embedder.FaceEmbedder` in process,
or `pool.EmbedderPool` in worker processes.
"""
