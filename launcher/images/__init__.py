"""Guest images built from Debian packages into the local image store (the demo guest)."""
