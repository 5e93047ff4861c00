import utils  # noqa: F401  (applies the compatibility shims before clip/taming are imported)
