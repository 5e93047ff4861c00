"""Zero-shot classification with CLIP, a few-shot linear probe to compare with, and scores.

Zero-shot (Radford et al., 2021, Sec. 3.1.2): write one prompt per class, embed the prompts,
and use the unit text embeddings as the rows of a linear layer over unit image embeddings.
Prompt ensembling (Sec. 3.1.4): embed each class under several templates and average the
unit embeddings (then re-normalise), which gives one classifier at no extra cost per image.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .retrieval import embed_texts

# ---------------------------------------------------------------- prompts


def fill_template(template, cls):
    """A prompt for one class: dicts fill named fields ({colour} {shape}), strings fill '{}'."""
    if isinstance(cls, dict):
        return template.format(**cls)
    if isinstance(cls, str):
        return template.format(cls)
    raise ValueError(f"class {cls!r} must be a string (for '{{}}' templates) or a dict of template fields.")


def fill_templates(templates, classes):
    """prompts[c][t] = templates[t] filled with classes[c]: a list (C) of lists (T) of strings."""
    if isinstance(templates, str):
        templates = [templates]
    if len(templates) == 0 or len(classes) == 0:
        raise ValueError("templates and classes must both be non-empty.")
    return [[fill_template(t, c) for t in templates] for c in classes]


def ensemble(text_features):
    """(C, T, D) text embeddings -> (C, D): mean of the unit vectors over templates, re-normalised.

    Averaging unit vectors lets every template count equally; re-normalising puts the result
    back on the sphere so it scores images on the same cosine scale as a single prompt.
    """
    if text_features.ndim != 3:
        raise ValueError(f"text_features has shape {tuple(text_features.shape)}; pass (C, T, D).")
    return F.normalize(F.normalize(text_features, dim=-1).mean(dim=1), dim=-1)


def class_embeddings(model, templates, classes, tokenize=None, progress=False):
    """Unit class embeddings (C, D): every class under every template, ensembled."""
    prompts = fill_templates(templates, classes)
    C, T = len(prompts), len(prompts[0])
    flat = [p for row in prompts for p in row]  # class-major: row c holds its T prompts
    feats = embed_texts(model, flat, tokenize=tokenize, progress=progress)  # (C*T, D)
    return ensemble(feats.view(C, T, -1))


# ---------------------------------------------------------------- the zero-shot head


def logit_scale(model, max_scale=100.0):
    """CLIP's learned temperature as a multiplier: exp(logit_scale), capped at 100 like in training."""
    return min(model.logit_scale.exp().item(), max_scale)


def zero_shot_head(class_weights, scale=1.0):
    """A bias-free nn.Linear(D, C) whose weight rows are the (unit) class embeddings times `scale`.

    head(unit_image_features) = scale * cosine similarities, shape (N, C): the logits.
    """
    if class_weights.ndim != 2:
        raise ValueError(f"class_weights has shape {tuple(class_weights.shape)}; pass (C, D).")
    C, D = class_weights.shape
    # float64 weights stay float64; the head lives where the weights are (nn.Linear alone builds it on the CPU)
    head = nn.Linear(D, C, bias=False, dtype=class_weights.dtype, device=class_weights.device)
    with torch.no_grad():
        head.weight.copy_(class_weights * scale)
    return head.requires_grad_(False)


@torch.no_grad()
def predict_proba(head, image_features):
    """Class probabilities (N, C) for image embeddings (N, D); they are L2-normalised first and
    computed in the head's dtype (float32 for heads built from CLIP's embeddings)."""
    if image_features.ndim != 2 or image_features.shape[1] != head.in_features:
        raise ValueError(f"image_features has shape {tuple(image_features.shape)}; the head expects (N, {head.in_features}).")
    return linear_on(head, F.normalize(image_features.to(head.weight.dtype), dim=-1)).softmax(dim=-1)


def linear_on(layer, x):
    """layer(x) computed where x is, with a copy of the layer's weights if they live elsewhere.

    A head or probe made from CPU vectors (embed_texts and embed_images return CPU tensors) then also takes
    features straight from a model on the GPU, and the result stays on the features' device.
    """
    bias = None if layer.bias is None else layer.bias.to(x.device)
    return F.linear(x, layer.weight.to(x.device), bias)


# ---------------------------------------------------------------- few-shot linear probe


def few_shot_indices(labels, shots, seed=0):
    """Indices of `shots` examples of every class present in `labels`, chosen by a fixed seed."""
    labels = torch.as_tensor(labels)
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        if len(idx) < shots:
            raise ValueError(f"class {c} has {len(idx)} examples; fewer than shots={shots}.")
        picked.append(idx[torch.randperm(len(idx), generator=g)[:shots]])
    return torch.cat(picked)


def probe_loss(weight, bias, features, labels, l2):
    """The linear probe's objective: mean cross-entropy of features @ weight.T + bias, plus
    l2 / 2 times the sum of the squared weights (the bias is not penalised). A 0-d tensor.

    weight (C, D), bias (C,), features (N, D) as the probe sees them (unit rows), labels (N,).
    """
    return F.cross_entropy(F.linear(features, weight, bias), labels) + l2 / 2 * weight.pow(2).sum()


def fit_linear_probe(features, labels, num_classes, l2=1e-3, max_iter=200):
    """Multinomial logistic regression on frozen features, by full-batch L-BFGS: an nn.Linear.

    Deterministic: zero initial weights, no sampling. It minimises probe_loss: l2 penalises the
    squared weights (as the CLIP paper's scikit-learn probe does); features are L2-normalised like
    CLIP's embeddings.
    """
    features = torch.as_tensor(features)
    labels = torch.as_tensor(labels).long()
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"features {tuple(features.shape)} and labels {tuple(labels.shape)} must be (N, D) and (N,).")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}.")
    x = F.normalize(features.float(), dim=-1)
    labels = labels.to(x.device)
    probe = nn.Linear(x.shape[1], num_classes, device=x.device)  # fitted where the features are (a GPU too)
    nn.init.zeros_(probe.weight)
    nn.init.zeros_(probe.bias)
    opt = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = probe_loss(probe.weight, probe.bias, x, labels, l2)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return probe.requires_grad_(False)


@torch.no_grad()
def probe_predict(probe, features):
    """Predicted class (N,) of a linear probe on (N, D) features (normalised as in training)."""
    return linear_on(probe, F.normalize(torch.as_tensor(features).float(), dim=-1)).argmax(dim=-1)


# ---------------------------------------------------------------- scores


def accuracy(predictions, labels):
    """Fraction correct; predictions are class indices (N,) or scores (N, C)."""
    predictions, labels = torch.as_tensor(predictions), torch.as_tensor(labels)
    if predictions.ndim == 2:
        predictions = predictions.argmax(dim=1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} must have one entry per example.")
    return (predictions == labels).float().mean().item()


def confusion_matrix(predictions, labels, num_classes):
    """(C, C) counts: row = true class, column = predicted class."""
    predictions, labels = torch.as_tensor(predictions), torch.as_tensor(labels)
    if predictions.ndim == 2:
        predictions = predictions.argmax(dim=1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} must have one entry per example.")
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)
