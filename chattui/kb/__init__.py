"""Knowledge folders: documents indexed locally, searched for the passages a question needs.

``reading`` finds and reads a base's files (the attachment readers: same formats, same
``.gitignore`` rules), ``chunking`` cuts a document into passages, ``index`` keeps a base's
passages in its own SQLite file (kept up to date file by file), ``embedding`` gives them vectors
when a model is set, ``retrieval`` ranks them for a question, ``prompt`` numbers them for the
model, and ``bases`` names the bases of the data folder.
"""
