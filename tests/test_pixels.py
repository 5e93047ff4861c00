import numpy as np
import pytest
import torch
from PIL import Image

from utils import pixels, shapes


def test_course_images_are_judged_right():
    hits = [pixels.dominant_colour(shapes.sample(3, i, "all")[0]) == shapes.CLASSES[shapes.sample(3, i, "all")[2]][0]
            for i in range(200)]
    assert np.mean(hits) >= 0.99


@pytest.mark.parametrize("rgb,name", [((255, 0, 0), "red"), ((0, 128, 0), "green"), ((0, 255, 0), "green"),
                                      ((0, 0, 255), "blue"), ((255, 255, 0), "yellow"), ((255, 165, 0), "orange"),
                                      ((128, 0, 128), "purple"), ((160, 32, 240), "purple")])
def test_common_rgb_values(rgb, name):
    assert pixels.rgb_name(rgb) == name
    img = np.full((16, 16, 3), 40, np.uint8)
    img[4:12, 4:12] = rgb
    assert pixels.dominant_colour(Image.fromarray(img)) == name


def test_grey_image_has_no_dominant_colour():
    assert pixels.dominant_colour(np.full((8, 8, 3), 0.5, np.float32)) is None


def test_tensor_input():
    t = torch.zeros(3, 8, 8)
    t[2] = 1.0
    assert pixels.dominant_colour(t) == "blue"


def test_match_rate_and_errors():
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1
    assert pixels.colour_match_rate([red, red], ["red", "blue"]) == 0.5
    with pytest.raises(ValueError, match="one colour per image"):
        pixels.colour_match_rate([red], ["red", "blue"])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        pixels.dominant_colour(np.zeros((8, 8)))


def test_mean_pairwise_distance():
    import torch

    from utils.pixels import mean_pairwise_distance

    same = torch.rand(1, 3, 8, 8).repeat(4, 1, 1, 1)
    assert mean_pairwise_distance(same) < 1e-4                         # (cdist's float rounding)
    black_white = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    assert abs(mean_pairwise_distance(black_white) - 1.0) < 1e-6        # every pixel differs by 1
    with pytest.raises(ValueError, match="at least 2 pictures"):
        mean_pairwise_distance(same[:1])
