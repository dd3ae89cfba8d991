"""Remotes: where pushed objects live (a directory, S3, any fsspec file system), in format 1.

location.py opens one from its URL; fs.py is the small file-system interface (the only module
that imports fsspec, and only when a non-local remote is opened), with failures.py deciding what
is retried and how a failure reads; layout.py names every file and checks what is read; packs.py
bundles small objects; catalog.py keeps the local copy of the indexes; locks.py coordinates
pushes with `gc --cloud`. docs/formats.md, "The remote", is the format.
"""

DEFAULT_TIMEOUT = 20  # seconds an S3 endpoint may take to connect or to send more bytes (remote.timeout)
