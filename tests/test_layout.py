"""The package's architecture, held: sub-packages import only downwards, and no module
imports itself back through others (an import circle)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "recbce"
# Each part may import the parts after it in this list, never one before it. Top-level
# modules are parts of their own; `recbce` itself is the public API above everything.
ORDER = ["cli", "api", "recommender", "starter", "tuning", "training", "evaluation", "runs",
         "models", "data", "config", "yaml_loader",
         "errors"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The recbce modules a file imports, lazily inside functions included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recbce"):
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("recbce"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name}
            for name, path in modules.items()}


def part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_parts_import_only_parts_below_them():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            mine, theirs = part(module), part(target)
            if mine is None or theirs is None or mine == theirs or mine in ("__main__",):
                continue
            assert mine in ORDER and theirs in ORDER, f"{module} or {target}: add its part to ORDER"
            if ORDER.index(theirs) < ORDER.index(mine):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering: " + ", ".join(sorted(wrong))


def test_no_import_circles():
    edges = graph()
    # Package __init__ files re-export their own modules: that edge is not a circle.
    edges = {m: {t for t in ts if not m.startswith(t + ".") and not t.startswith(m + ".")}
             for m, ts in edges.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return path + [target]
            if target not in state and (found := visit(target, path + [target])):
                return found
        state[node] = 2
        return None

    for module in sorted(edges):
        if module not in state:
            circle = visit(module, [module])
            assert circle is None, "import circle: " + " -> ".join(circle)


def test_models_read_no_data_and_evaluation_no_training():
    for module, targets in graph().items():
        if part(module) == "models":
            assert not any(part(t) == "data" for t in targets), module
        if part(module) == "evaluation":
            assert not any(part(t) == "training" for t in targets), module
        assert not any(part(t) == "cli" for t in targets) or part(module) in ("cli", "__main__"), module
