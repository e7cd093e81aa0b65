"""The Singer layer: the tap, its streams, state and bookmarks, and the Singer output."""
