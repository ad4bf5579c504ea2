"""LightGCN (`model.kind: lightgcn`; He et al., SIGIR 2020): ŷ_uv = e_u · e_v (+ b_v) with
e = the mean of E⁰ … E^L, E^(l+1) = Â E^l, over the user-item graph Â built by recbce.data.graph."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from recbce.config import ModelConfig
from recbce.models.base import Batch, Vectors
from recbce.models.embedding import EmbeddingScorer
from recbce.models.pairs import PairScores, used_rows


class SymmetricProduct(torch.autograd.Function):
    """Â @ X for a symmetric sparse Â: the gradient Âᵀ G is Â G, the same product. Torch's own
    backward of a sparse product builds Âᵀ first, a sort of every entry on each step."""

    @staticmethod
    def forward(ctx, graph: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.graph = graph
        return torch.sparse.mm(graph, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, torch.sparse.mm(ctx.graph, grad.contiguous())


class Shared:
    """An attribute a deep copy shares instead of copying: the graph is data, not a parameter
    (weight averaging deep-copies the model; a copy of the graph would only cost memory)."""

    def __init__(self, value):
        self.value = value

    def __deepcopy__(self, memo):
        return self


class LightGCN(EmbeddingScorer):
    """User and item embeddings E⁰ (one table [n_users + n_items, d] in two parts) propagated
    `model.layers` times over Â, the symmetrically normalised user-item graph of the training
    pairs; the final vectors are the mean of the layers, scored by a dot product plus an item
    bias (`model.bias`; cosine with a temperature under `scorer: cosine`), as DotProduct does.

    A training step propagates the whole graph once, for all its users and items, so a step
    costs 2·layers sparse products over every edge whatever the batch; it normalises (cosine)
    only the rows it scores. Scoring propagates once per parameter state (ScoringCache).
    L2 (`loss.l2`) is on the batch's E⁰ rows, as in the paper. `inputs.graph`: Â
    (recbce.data.graph.normalized_adjacency).
    """

    context = 0  # no history mix: nothing read per scored pair

    def __init__(self, n_users: int, n_items: int, config: ModelConfig, inputs=None, sparse: bool = False,
                 generator: torch.Generator | None = None):
        graph = getattr(inputs, "graph", None)
        if graph is None:
            raise ValueError("model.kind lightgcn needs the user-item graph (inputs.graph)")
        if graph.shape != (n_users + n_items, n_users + n_items):
            raise ValueError(f"the graph has {graph.shape[0]} nodes, not {n_users} users + {n_items} items")
        # Propagation spreads every step's gradient over the whole table: dense gradients.
        super().__init__(n_users, n_items, config, sparse_tables=False, sparse_bias=sparse,
                         generator=generator)
        self.graph = Shared(graph)
        self.layers = config.layers

    @contextmanager
    def reading_history(self, history):
        """LightGCN reads no per-user history (model.context is refused with it)."""
        yield self

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(users [n_users, d], items [n_items, d]): the mean of the layers E⁰ … E^L, before
        `embed` (a training step normalises only the rows it scores)."""
        layer = torch.cat([self.user.weight, self.item.weight])
        total = layer
        graph = self.graph_on(layer.device)
        for _ in range(self.layers):
            layer = SymmetricProduct.apply(graph, layer)
            total = total + layer
        mean = total / (self.layers + 1) if self.layers else total
        return mean.split([self.user.num_embeddings, self.item.num_embeddings])

    def graph_on(self, device: torch.device) -> torch.Tensor:
        if self.graph.value.device != device:
            self.graph = Shared(self.graph.value.to(device))
        return self.graph.value

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The scored (propagated, then embedded) tables for scoring, cached per parameter state."""
        def compute():
            users, items = self.propagate()
            return self.embed(users), self.embed(items)
        return self.cache.get((self.user.weight, self.item.weight), compute)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(pos [B], neg [B, k] or [B, P]) from one propagation of the whole graph."""
        users, items = self.propagate()
        p = self.embed(users[batch.users])
        if batch.pool is None:
            candidates = torch.cat([batch.items.unsqueeze(1), batch.negatives], dim=1)
            rows, renumbered = used_rows(candidates, len(items))
            scores = self.pair_scores(p, self.embed(items[rows]), renumbered, candidates)
            return scores[:, 0], scores[:, 1:]
        scored = torch.cat([batch.items, batch.pool])
        q_items, q_pool = self.embed(items[scored]).split([len(batch.items), len(batch.pool)])
        return self.pool_scores(p, q_items, q_pool, scored, len(batch.items), batch.mask)

    def pair_scores(self, p: torch.Tensor, table: torch.Tensor, rows: torch.Tensor,
                    items: torch.Tensor) -> torch.Tensor:
        """p [B, d] against `table`'s `rows` ([B] or [B, k]), plus the bias of `items` (the
        item each row of `table` is)."""
        if rows.dim() == 1:
            scores = (p * table[rows]).sum(-1)
        else:  # one sparse product (recbce.models.pairs)
            scores = PairScores.apply(p, table, rows)
        return self.with_item_bias(scores, items)

    def score_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of users [B] against items [B] or [B, k], shaped like `items`."""
        user_table, item_table = self.tables()
        return self.pair_scores(user_table[users], item_table, items, items)

    @torch.no_grad()
    def score_all(self, users: torch.Tensor, out: torch.Tensor | None = None,
                  items: slice = slice(None)) -> torch.Tensor:
        """[B, n_items]: every item (or the `items` slice), one matrix product over the cached
        propagated tables."""
        user_table, item_table = self.tables()
        return self.against_all(user_table[users], item_table, out, items)

    def batch_embeddings(self, batch: Batch) -> list[torch.Tensor]:
        """The batch's rows of E⁰ (the paper's L2 is on the layer-0 embeddings)."""
        return [self.user(batch.users), self.item(batch.items), self.item(batch.negative_items)]

    def users_from_items(self, own: torch.Tensor, items: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Exported user vectors [U, d] of users the model never trained (recbce.recommender.fold_in),
        through the graph: `own` is the user's E⁰ row, and layer l + 1 sums its items' layer-l
        rows weighted 1 / sqrt(|N_u| |N_v|), as Â weighs an edge. The items' own layers and
        degrees stay those of training (the new edges are not propagated back to them).
        Differentiable in `own`."""
        counts = torch.diff(torch.cat([offsets, offsets.new_tensor([len(items)])]))
        owner = torch.repeat_interleave(torch.arange(len(offsets)), counts)
        layers, degree = self.item_layers()
        weight = (counts[owner].to(torch.float64) * degree[items]).rsqrt().to(own.dtype).unsqueeze(1)
        total = own
        for layer in layers:
            total = total + own.new_zeros(own.shape).index_add(0, owner, weight * layer[items])
        return self.embed(total / (self.layers + 1))

    def item_layers(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """([the items' rows of E⁰ … E^(L−1)], item degrees in Â), from the trained parameters."""
        n_users = self.user.num_embeddings
        graph = self.graph_on(self.item.weight.device)
        with torch.no_grad():
            layer, layers = torch.cat([self.user.weight, self.item.weight]), []
            for _ in range(self.layers):
                layers.append(layer[n_users:])
                layer = torch.sparse.mm(graph, layer)
        degree = torch.diff(graph.crow_indices())[n_users:].to(torch.float64)
        return layers, degree

    def item_inputs(self) -> torch.Tensor:
        """The item vectors a new user's `own` starts from the mean of (their E⁰ rows)."""
        return self.item.weight

    @torch.no_grad()
    def fold_in_recipe(self) -> tuple[list[str], dict[str, torch.Tensor]]:
        """(formula lines, arrays): users_from_items with `own` at its start, in numpy terms."""
        layers, degree = self.item_layers()
        lines = ["h = mean of item_inputs[i] over the user's items i (n of them)"]
        if self.layers:
            lines.append("u_l = sum over the user's items i of item_layers[l - 1, i] / "
                         f"sqrt(n · item_degree[i]), l = 1..{self.layers}")
        lines.append(f"v = (h + u_1 + ... + u_{self.layers}) / {self.layers + 1}" if self.layers else "v = h")
        lines.append(self.embed_recipe())
        arrays = {"item_inputs": self.item.weight.clone(), "item_degree": degree.float()}
        if self.layers:
            arrays["item_layers"] = torch.stack(layers)
        return lines, arrays

    @torch.no_grad()
    def export(self) -> Vectors:
        """The propagated (and, under cosine, normalised) vectors score_all multiplies."""
        return self.vectors(*self.tables())
