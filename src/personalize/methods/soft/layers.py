"""Adapter building blocks: MLP projector, Perceiver resampler, masked pooling, norm matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from personalize.methods.soft.config import WHITEN_COMPONENTS


class NormMatch(nn.Module):
    """Rescale vectors to ``target_norm`` (the base model's typical token-embedding norm) times a
    learned per-token gain, so that soft tokens neither drown nor vanish next to real tokens.

    ``[batch, N, hidden] -> [batch, N, hidden]``.
    """

    def __init__(self, num_tokens: int, target_norm: float, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self.register_buffer("target_norm", torch.tensor(float(target_norm)), persistent=True)
        self.gain = nn.Parameter(torch.ones(num_tokens, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        return F.normalize(x, dim=-1) * self.target_norm * self.gain


def zero_user_weights(layer: nn.Linear) -> None:
    """Start ``layer`` as a constant: zero weights, and a bias drawn like a soft prompt's tokens, so
    every user gets the same (shared) soft tokens until training grows the user's part."""
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.normal_()


class RunningStandardize(nn.Module):
    """Centre and scale each input dimension by its mean and standard deviation over every vector
    seen in training (a cumulative average, not a momentum; frozen in eval mode), saved with the
    adapter.

    A mean of sentence embeddings is mostly what every user shares (MovieLens: the per-dimension
    spread across users is about a third of the values themselves), so the part that tells
    users apart is a small offset that a freshly initialised MLP, and Adam's early steps, barely
    see. Standardised, it is the whole input. Unlike batch norm, it normalises with the running
    statistics in training too: no train/eval mismatch, and a batch of one is fine.

    ``[batch, dim] -> [batch, dim]``; or per item, ``[batch, items, dim]`` with an ``item_mask``
    ``[batch, items]``: only valid items update the statistics, and padded items come out as 0.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim), persistent=True)
        self.register_buffer("var", torch.ones(dim), persistent=True)
        self.register_buffer("count", torch.zeros(()), persistent=True)

    def forward(self, x: torch.Tensor, item_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.training:
            self._update(x.detach().reshape(-1, x.shape[-1]) if item_mask is None else x.detach()[item_mask.bool()])
        standardized = (x - self.mean.to(x.dtype)) / (self.var.to(x.dtype) + self.eps).sqrt()
        if item_mask is not None:
            standardized = standardized * item_mask.to(x.dtype).unsqueeze(-1)
        return standardized

    def _update(self, values: torch.Tensor) -> None:
        """Fold ``[n, dim]`` more training vectors into the running mean and variance."""
        if values.shape[0] == 0:
            return
        with torch.no_grad():
            values = values.to(self.mean.dtype)
            n, total = values.shape[0], self.count + values.shape[0]
            batch_mean = values.mean(0)
            delta = batch_mean - self.mean
            # Chan et al.'s parallel update of the mean and the (population) variance
            m2 = self.var * self.count + values.var(0, unbiased=False) * n + delta.square() * self.count * n / total
            self.mean += delta * n / total
            self.var.copy_(m2 / total)
            self.count.copy_(total)


class Whiten(nn.Module):
    """Standardise each input dimension, then PCA-whiten onto the top ``components`` directions
    of the training users: ``[batch, dim] -> [batch, components]``, each output of unit variance
    over the training users. Fitted once, before training (:meth:`fit`), and saved with the adapter.

    Per-dimension standardising leaves an attribute as strong as the number of dimensions it moves:
    in hashed character n-grams letter case moves hundreds, one word's spelling a handful, so an
    MLP (and Adam) learns the first long before the second. Whitened, every direction along which
    training users differ has the same spread (synthetic-style, 288 training users: a
    nearest-centroid reading of the 96 held-out users' five attributes from 0.56-0.90 standardised to
    1.00 at 128 components).
    """

    def __init__(self, dim: int, components: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim, self.components, self.eps = dim, components, eps
        self.register_buffer("mean", torch.zeros(dim), persistent=True)
        self.register_buffer("projection", torch.zeros(dim, components), persistent=True)
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool), persistent=True)

    @torch.no_grad()
    def fit(self, vectors: torch.Tensor) -> None:
        """Fit on the training users' vectors ``[users, dim]`` (each user once), or their items'
        ``[items, dim]`` (PERSOMA)."""
        from personalize.errors import ConfigError

        if vectors.shape[0] <= self.components:
            raise ConfigError(f"input_norm whiten: {self.components} components need more than {self.components} "
                              f"distinct training users (items), got {vectors.shape[0]}; lower whiten_components")
        x = vectors.double()
        mean, scale = x.mean(0), x.std(0, unbiased=False) + self.eps
        z = (x - mean) / scale
        _, singular, basis = torch.linalg.svd(z, full_matrices=False)  # z = U S Vh
        spread = singular[: self.components] / x.shape[0] ** 0.5  # each component's standard deviation
        self.mean.copy_(mean.float())
        self.projection.copy_((basis[: self.components].T / (spread + self.eps) / scale.unsqueeze(1)).float())
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor, item_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[..., dim] -> [..., components]``; per item (``[batch, items, dim]``) with an
        ``item_mask`` ``[batch, items]``, padded items come out as 0."""
        if not bool(self.fitted):
            raise RuntimeError("Whiten used before fit(): the trainer fits it on the training users first")
        whitened = (x - self.mean.to(x.dtype)) @ self.projection.to(x.dtype)
        if item_mask is not None:
            whitened = whitened * item_mask.to(x.dtype).unsqueeze(-1)
        return whitened


def input_normalizer(input_norm: str, dim: int, whiten_components: int | None) -> tuple[nn.Module | None, int]:
    """The layer an adapter's input ``[..., dim]`` goes through first (``input_norm``: ``none``,
    ``standardize``, ``whiten``) and the size it comes out at: ``(None, dim)`` for ``none``."""
    if input_norm == "whiten":  # the config checked the setting when it was built
        components = whiten_components or WHITEN_COMPONENTS
        return Whiten(dim, components), components
    return (RunningStandardize(dim) if input_norm == "standardize" else None), dim


class PrefixProjector(nn.Module):
    """E2P's MLP: a user vector ``[batch, in_dim]`` -> ``[batch, N, hidden]`` soft tokens.

    The vector goes through ``normalizer`` on its way in (:func:`input_normalizer`: standardised, or
    whitened, which must be fitted before use), whose output size is ``normalized_dim``.

    ``user_dropout``: in training only, each row's (normalised) vector is zeroed with this
    probability before the MLP: the mean training user where the input is normalised.
    """

    def __init__(self, normalizer: nn.Module | None, normalized_dim: int, mlp_hidden: int, hidden: int,
                 num_tokens: int, dropout: float = 0.0, zero_init: bool = False, user_dropout: float = 0.0) -> None:
        super().__init__()
        self.num_tokens, self.hidden, self.user_dropout = num_tokens, hidden, user_dropout
        self.standardize = normalizer if normalizer is not None else nn.Identity()
        self.net = nn.Sequential(
            nn.Linear(normalized_dim, mlp_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_hidden, num_tokens * hidden),
        )
        if zero_init:
            zero_user_weights(self.net[-1])

    def forward(self, user_vector: torch.Tensor) -> torch.Tensor:
        x = self.standardize(user_vector)
        if self.training and self.user_dropout > 0:
            kept = torch.rand(x.shape[0], 1, device=x.device) >= self.user_dropout
            x = x * kept.to(x.dtype)
        return self.net(x).view(user_vector.shape[0], self.num_tokens, self.hidden)


def masked_mean(items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid items: ``[batch, items, dim]``, ``[batch, items]`` -> ``[batch, dim]``."""
    weights = mask.to(items.dtype).unsqueeze(-1)
    return (items * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class PerceiverBlock(nn.Module):
    """Latents attend to ``[items; latents]`` (Flamingo's resampler), then a feed-forward."""

    def __init__(self, dim: int, heads: int, ff_mult: int = 4) -> None:
        super().__init__()
        self.norm_latents = nn.LayerNorm(dim)
        self.norm_items = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * ff_mult), nn.GELU(), nn.Linear(dim * ff_mult, dim))

    def forward(self, latents: torch.Tensor, items: torch.Tensor, item_mask: torch.Tensor) -> torch.Tensor:
        q = self.norm_latents(latents)
        kv = torch.cat([self.norm_items(items), q], dim=1)
        latent_mask = torch.ones(latents.shape[:2], dtype=torch.bool, device=latents.device)
        # key_padding_mask is True where a key must be ignored.
        ignore = ~torch.cat([item_mask.bool(), latent_mask], dim=1)
        attended, _ = self.attn(q, kv, kv, key_padding_mask=ignore, need_weights=False)
        latents = latents + attended
        return latents + self.ff(latents)


class PerceiverResampler(nn.Module):
    """``[batch, items, in_dim]`` (+ mask) -> ``[batch, N, out_dim]`` through N learned latents."""

    def __init__(self, in_dim: int, dim: int, out_dim: int, num_latents: int, depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.input = nn.Linear(in_dim, dim)
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.blocks = nn.ModuleList(PerceiverBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, out_dim)

    def forward(self, items: torch.Tensor, item_mask: torch.Tensor) -> torch.Tensor:
        x = self.input(items)
        latents = self.latents.unsqueeze(0).expand(items.shape[0], -1, -1)
        for block in self.blocks:
            latents = block(latents, x, item_mask)
        return self.output(self.norm(latents))


class MLPAdapter(nn.Module):
    """PERSOMA's MLP adapter: each item through an MLP, masked mean-pool, then to N tokens.

    ``[batch, items, in_dim]`` (+ mask) -> ``[batch, N, hidden]``.
    """

    def __init__(self, in_dim: int, mlp_hidden: int, hidden: int, num_tokens: int) -> None:
        super().__init__()
        self.num_tokens, self.hidden = num_tokens, hidden
        self.item_mlp = nn.Sequential(nn.Linear(in_dim, mlp_hidden), nn.GELU(), nn.Linear(mlp_hidden, mlp_hidden))
        self.head = nn.Linear(mlp_hidden, num_tokens * hidden)

    def forward(self, items: torch.Tensor, item_mask: torch.Tensor) -> torch.Tensor:
        pooled = masked_mean(self.item_mlp(items), item_mask)
        return self.head(pooled).view(items.shape[0], self.num_tokens, self.hidden)
