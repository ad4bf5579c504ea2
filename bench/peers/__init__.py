"""The peers benchmark's harness (bench/bench_peers.py is its entry script): recbce against
implicit, Cornac, lightfm-next and RecBole on Gowalla, one evaluator for all.

- systems.py: each peer behind train(epochs) / scorer() / settings, and the grids screened;
  recbole.py: RecBole's BPR and LightGCN, which run only in RecBole's virtualenv (venv.py);
- scorer.py: a peer's factors as a scorer for recbce's own full-ranking evaluator;
- protocol.py: how a peer is given its best (grid screened on validation, run to its plateau);
- worker.py: one system in its own process (`python -m bench.peers.worker`, from the repository
  root), so its peak memory is its own;
- store.py: each system's result kept as one JSON in bench/results/peers/;
- report.py: bench/results/peers.md rendered from every stored system.
"""
