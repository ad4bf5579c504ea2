"""The user-item graph a graph model (LightGCN) propagates its embeddings over.

Nodes are the users (0 .. n_users − 1) followed by the items (n_users .. n_users + n_items − 1);
each training pair is an edge both ways. The model reads the symmetrically normalised
adjacency Â = D^−1/2 A D^−1/2 (D the node degrees), which is symmetric itself: Â_uv =
1 / sqrt(|N_u| |N_v|) for every edge, the normalisation of LightGCN (He et al., SIGIR 2020).
Built once, from the training pairs only: held-out pairs are never edges.
"""

from __future__ import annotations

import warnings

import torch

from recbce.data.dataset import Positives

# Torch calls sparse CSR "beta" once per process; the product used here is tested against a
# dense reference (tests/test_graph.py, tests/test_lightgcn.py).
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def normalized_adjacency(positives: Positives, n_users: int) -> torch.Tensor:
    """Â as a sparse CSR tensor [n_users + n_items]², float32, from the training pairs.

    A node without edges (a user or item seen only in held-out pairs) has an empty row."""
    n_items = positives.n_items
    users = positives.keys // n_items  # each pair once (Positives drops duplicates)
    items = positives.keys % n_items + n_users
    user_degree = positives.counts().to(torch.float64)
    item_degree = torch.bincount(positives.indices, minlength=n_items).to(torch.float64)
    degree = torch.cat([user_degree, item_degree])
    weight = (degree[users] * degree[items]).rsqrt().to(torch.float32)
    rows = torch.cat([users, items])
    columns = torch.cat([items, users])
    size = n_users + n_items
    coo = torch.sparse_coo_tensor(torch.stack([rows, columns]), torch.cat([weight, weight]), (size, size),
                                  check_invariants=True)
    return coo.coalesce().to_sparse_csr()
