"""utils/photos.py: real photographs for full mode, offline (bundled, files, bytes) and one clear error each."""
import io

import pytest
from PIL import Image

from utils.photos import BUNDLED, load_photo


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_photos_load_as_rgb(name):
    photo = load_photo(name)
    assert photo.mode == "RGB" and min(photo.size) >= 64


def test_file_and_bytes(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 30), (255, 0, 0, 128)).save(buffer, format="PNG")
    path = tmp_path / "red.png"
    path.write_bytes(buffer.getvalue())
    for source in (str(path), path, buffer.getvalue()):
        photo = load_photo(source)
        assert photo.mode == "RGB" and photo.size == (40, 30)


def test_bad_inputs_say_what_to_give(tmp_path):
    with pytest.raises(ValueError, match="not a bundled photo, a URL or an existing file"):
        load_photo("eagle")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not an image file"):
        load_photo(str(tmp_path / "notes.txt"))


def test_unreachable_url_is_one_sentence():
    with pytest.raises(RuntimeError, match="Could not download .* bundled photo"):
        load_photo("http://127.0.0.1:9/photo.jpg", timeout=2)   # port 9 (discard): refused at once
