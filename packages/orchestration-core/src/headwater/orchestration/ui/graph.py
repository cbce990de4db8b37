"""Layered drawings of directed graphs as inline SVG: a run's DAG, an artifact's lineage.

Server-side and dependency-free: nodes go in columns by their longest path from a source,
edges are curves from one column to a later one, and every node can be a link.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 46, 60, 18, 10


@dataclass(frozen=True)
class GraphNode:
    """One box: its id, two lines of text, a CSS class (its state or kind) and a link."""

    id: str
    title: str
    subtitle: str = ""
    css_class: str = ""
    href: str = ""


def layers(
    ids: Sequence[str], edges: Sequence[tuple[str, str]], fixed: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Each node's column: `fixed` where given, else its longest path from a source."""
    if fixed:
        low = min(fixed.values(), default=0)
        return {i: fixed.get(i, 0) - low for i in ids}
    known = set(ids)
    parents: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        if a in known and b in known:
            parents[b].append(a)
    depth: dict[str, int] = {}

    def visit(node: str, seen: frozenset[str]) -> int:
        if node not in depth:
            ups = [p for p in parents[node] if p not in seen]  # a cycle cannot loop forever
            depth[node] = max((visit(p, seen | {node}) + 1 for p in ups), default=0)
        return depth[node]

    for i in ids:
        visit(i, frozenset())
    return depth


def svg(
    nodes: Sequence[GraphNode],
    edges: Sequence[tuple[str, str]],
    *,
    fixed: Mapping[str, int] | None = None,
    label: str = "graph",
) -> str:
    """An <svg> drawing of the graph, nodes in columns, in the order given within a column."""
    column = layers([n.id for n in nodes], edges, fixed)
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for node in nodes:
        col = column[node.id]
        row = rows.get(col, 0)
        rows[col] = row + 1
        where[node.id] = (PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(column.values(), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values(), default=1) * (NODE_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg class="graph" role="img" aria-label="{html.escape(label)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'class="arrowhead"/></marker></defs>',
    ]
    for a, b in edges:
        if a not in where or b not in where:
            continue
        (x1, y1), (x2, y2) = where[a], where[b]
        sx, sy, ex, ey = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
        mid = (sx + ex) / 2
        parts.append(
            f'<path class="edge" data-from="{html.escape(a)}" data-to="{html.escape(b)}" '
            f'd="M {sx} {sy} C {mid} {sy}, {mid} {ey}, {ex} {ey}" marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        x, y = where[node.id]
        box = (
            f'<g class="node {html.escape(node.css_class)}" data-id="{html.escape(node.id)}">'
            f"<title>{html.escape(node.title)} {html.escape(node.subtitle)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + 8}" y="{y + 19}" class="title">{html.escape(_clip(node.title))}</text>'
            f'<text x="{x + 8}" y="{y + 36}" class="subtitle">'
            f"{html.escape(_clip(node.subtitle))}</text></g>"
        )
        if node.href:
            box = f'<a href="{html.escape(node.href)}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, size: int = 22) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
