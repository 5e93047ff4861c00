import os

# Tests always run the course in tiny mode: no downloads, the same numbers everywhere.
os.environ.setdefault("COURSE_MODE", "tiny")

import utils  # noqa: E402,F401  (applies the compatibility shims before clip/taming are imported)
