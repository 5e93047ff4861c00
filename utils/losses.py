"""CLIP's symmetric contrastive loss (Radford et al., 2021, "Learning Transferable Visual Models
From Natural Language Supervision", Figure 3)."""
import torch
import torch.nn.functional as F


def check_features(image_features, text_features):
    if image_features.ndim != 2 or image_features.shape != text_features.shape:
        raise ValueError(
            f"image_features {tuple(image_features.shape)} and text_features "
            f"{tuple(text_features.shape)} must both be (N, D) with the same N and D; "
            "pass one row per image-caption pair."
        )


def clip_loss(image_features, text_features, logit_scale):
    """Mean of the image->text and text->image cross-entropies over an (N, N) similarity matrix.

    image_features, text_features: (N, D), already L2-normalised; row i of each is a matching pair.
    logit_scale: the multiplier itself (CLIP's model.logit_scale.exp()), a float or 0-d tensor.
    """
    check_features(image_features, text_features)
    logits = logit_scale * image_features @ text_features.t()  # (N, N): row = image, column = text
    targets = torch.arange(len(logits), device=logits.device)  # the match sits on the diagonal
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2
