"""Labels implied by transitivity: a~b, b~c => a~c; a~b, b!~c => a!~c.

Similar answers join images into groups (connected components); a dissimilar answer between two
groups implies every cross pair is dissimilar. Direct answers always win over implied ones; a
dissimilar answer inside one similar group is a contradiction: it is counted, and no dissimilar
label is implied from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from anneal.al.pairs import canonical, exclude_pairs, pair_codes, unique_pairs


@dataclass
class Closure:
    """Implied pairs and bits (not including the direct ones), plus a contradiction count."""

    pairs: np.ndarray
    similar: np.ndarray
    contradictions: int

    def sample(self, k: int, rng: np.random.Generator) -> Closure:
        """At most `k` of the implied pairs, half similar and half dissimilar where both
        kinds have enough (the rest from the other kind), drawn without replacement."""
        if len(self.pairs) <= k:
            return self
        pos, neg = np.flatnonzero(self.similar), np.flatnonzero(~self.similar)
        n_pos = min(len(pos), max(k // 2, k - len(neg)))
        keep = np.concatenate(
            [rng.choice(pos, n_pos, replace=False), rng.choice(neg, k - n_pos, replace=False)]
        )
        keep.sort()
        return Closure(self.pairs[keep], self.similar[keep], self.contradictions)


def transitive_closure(
    pairs: np.ndarray, similar: np.ndarray, n: int, max_implied: int = 200_000
) -> Closure:
    """Implied labels of canonical labelled `pairs` over `n` images (at most `max_implied`)."""
    pairs = canonical(pairs)
    similar = np.asarray(similar, dtype=bool)
    pos = pairs[similar]
    graph = coo_matrix((np.ones(len(pos)), (pos[:, 0], pos[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members: dict[int, np.ndarray] = {}
    for c in np.unique(component[np.unique(pos)] if len(pos) else []):
        members[int(c)] = np.flatnonzero(component == c)

    implied_pos = [np.array(np.triu_indices(len(m), 1)).T for m in members.values()]
    implied_pos = [m[idx] for m, idx in zip(members.values(), implied_pos, strict=True)]
    pos_pairs = unique_pairs(np.concatenate(implied_pos), n) if implied_pos else np.empty((0, 2))

    neg_pairs_list = []
    contradictions = 0
    seen: set[tuple[int, int]] = set()
    for a, b in pairs[~similar]:
        ca, cb = int(component[a]), int(component[b])
        if ca == cb:
            contradictions += 1
            continue
        key = (min(ca, cb), max(ca, cb))
        if key in seen:
            continue
        seen.add(key)
        left = members.get(ca, np.array([a]))
        right = members.get(cb, np.array([b]))
        neg_pairs_list.append(np.stack(np.meshgrid(left, right), axis=-1).reshape(-1, 2))
    neg_pairs = (
        unique_pairs(np.concatenate(neg_pairs_list), n) if neg_pairs_list else np.empty((0, 2))
    )
    pos_pairs = exclude_pairs(pos_pairs.astype(np.int64), pairs, n)
    neg_pairs = exclude_pairs(neg_pairs.astype(np.int64), pairs, n)
    neg_pairs = neg_pairs[~np.isin(pair_codes(neg_pairs, n), pair_codes(pos_pairs, n))]
    all_pairs = np.concatenate([pos_pairs, neg_pairs]).astype(np.int64)
    bits = np.concatenate([np.ones(len(pos_pairs), bool), np.zeros(len(neg_pairs), bool)])
    if len(all_pairs) > max_implied:
        keep = np.linspace(0, len(all_pairs) - 1, max_implied).astype(np.int64)
        all_pairs, bits = all_pairs[keep], bits[keep]
    return Closure(all_pairs, bits, contradictions)
