"""What keeps the vector index: the embedders, the Chroma collections of large namespaces, the
indexer that writes vectors, and the owner protocol that lets several processes share one data dir.

SQLite stays the truth; everything here can be rebuilt from it.
"""
