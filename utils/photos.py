"""Real photographs for full mode: scikit-image's bundled photos offline, or your own.

    load_photo("chelsea")                       # a photo that ships inside scikit-image (no download)
    load_photo("https://example.org/dog.jpg")   # any image on the web (needs internet)
    load_photo("my_photo.jpg")                  # a file
    load_photo(next(iter(files.upload().values())))   # on Colab: bytes from google.colab.files.upload()
"""
import io
from pathlib import Path

# scikit-image 0.26 ships these; eagle, lily, kidney and skin would need a download.
BUNDLED = ("astronaut", "chelsea", "coffee", "rocket", "horse", "camera", "coins", "hubble_deep_field",
           "colorwheel", "retina")


def to_rgb(array):
    """A scikit-image array (grey, boolean, float or RGBA) -> PIL RGB image."""
    import numpy as np
    from PIL import Image

    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = (255 * (a - a.min()) / (np.ptp(a) + 1e-8)).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a[..., :3])


def load_photo(source, timeout=30):
    """A PIL RGB image from a bundled photo's name, an http(s) URL, a file path, or the image file's bytes."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray)):
        data, what = bytes(source), "the given bytes"
    elif isinstance(source, str) and source in BUNDLED:
        from skimage import data as skdata

        return to_rgb(getattr(skdata, source)())
    elif isinstance(source, str) and source.startswith(("http://", "https://")):
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=timeout) as response:
                data, what = response.read(), source
        except OSError as error:
            raise RuntimeError(f"Could not download {source} ({error}); check the address and the internet "
                               f"connection, or use a bundled photo: {', '.join(BUNDLED)}.") from None
    elif isinstance(source, (str, Path)) and Path(source).is_file():
        data, what = Path(source).read_bytes(), str(source)
    else:
        raise ValueError(f"{source!r} is not a bundled photo, a URL or an existing file; give one of "
                         f"{', '.join(BUNDLED)}, an http(s) address, a path or image bytes.")
    try:
        return Image.open(io.BytesIO(data)).convert("RGB")
    except UnidentifiedImageError:
        raise ValueError(f"{what} is not an image file PIL can read (JPEG, PNG, …).") from None
