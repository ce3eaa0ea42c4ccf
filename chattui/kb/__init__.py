"""Knowledge folders: documents indexed locally, searched for the passages a question needs.

``chunking`` cuts a document into passages, ``index`` keeps a base's passages in its own SQLite
file (kept up to date file by file), ``retrieval`` ranks them for a question, and ``bases`` names
the bases of the data folder. The files are read by the attachment readers (same formats, same
``.gitignore`` rules).
"""
