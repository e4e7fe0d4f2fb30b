"""What the rendered NetworkPolicies let through, by the Kubernetes semantics, for model pods.

A connection from pod ``src`` to a port of pod ``dst`` is allowed when the policies of ``dst``'s
namespace admit it as ingress to ``dst`` *and* those of ``src``'s namespace admit it as egress
from ``src``. A pod that no policy of a direction selects is unrestricted in that direction;
once one selects it, only what some rule of those policies lists gets through (rules add up).
Only the overlay's namespace has policies here; pods elsewhere (clients, Prometheus, kube-dns)
are unrestricted on their side.

Ports are compared over a finite set per destination: the pod's declared ports, every port
number a policy names, and a sentinel port that nobody declares, so a rule without ``ports``
(all ports) shows up as admitting the sentinel. Named ports resolve against the destination
pod's ports, as the API server does. An ``ipBlock`` peer is taken to match every pod: that is
the conservative reading for the checks that something is denied.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from k8s_manifests import Obj, of_kind

PortSet = frozenset[tuple[str, int]]
SENTINEL_PORT = 1
"""A port no pod declares: admitted only by a rule that admits every port."""


@dataclass
class Pod:
    """A pod as the policies see it: where it runs, its labels, and its named ports."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """Port name (or the number as text, for an unnamed port) -> (protocol, number)."""

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}

    def declared(self) -> PortSet:
        return frozenset(self.ports.values())


def container_ports(containers: Iterable[Obj]) -> dict[str, tuple[str, int]]:
    """Name -> (protocol, number) of every port the containers declare."""
    ports: dict[str, tuple[str, int]] = {}
    for container in containers:
        for port in container.get("ports", []):
            key = port.get("name", str(port["containerPort"]))
            ports[key] = (port.get("protocol", "TCP"), int(port["containerPort"]))
    return ports


def selects(selector: Obj | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector matches ``labels`` (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    if selector.get("matchLabels", {}).items() - labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = set(expression.get("values", []))
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def policy_types(policy: Obj) -> set[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def peer_matches(peer: Obj, pod: Pod, policy_namespace: str) -> bool:
    """Whether one ``from``/``to`` entry of a policy in ``policy_namespace`` matches ``pod``."""
    if "ipBlock" in peer:
        return True
    namespaces = peer.get("namespaceSelector")
    if namespaces is None:
        in_namespace = pod.namespace == policy_namespace
    else:
        in_namespace = selects(namespaces, pod.namespace_labels)
    pods = peer.get("podSelector")
    return in_namespace and (pods is None or selects(pods, pod.labels))


class Policies:
    """The NetworkPolicies of one rendered overlay, and the ports they admit between pods."""

    def __init__(self, objects: tuple[Obj, ...]) -> None:
        self.policies = of_kind(objects, "NetworkPolicy")
        self.numbers: set[tuple[str, int]] = set()
        for policy in self.policies:
            for rule in self._rules(policy, "ingress") + self._rules(policy, "egress"):
                for port in rule.get("ports") or []:
                    if isinstance(port.get("port"), int):
                        self.numbers.add((port.get("protocol", "TCP"), port["port"]))

    @staticmethod
    def _rules(policy: Obj, direction: str) -> list[Obj]:
        return list(policy["spec"].get(direction) or [])

    def universe(self, dst: Pod) -> PortSet:
        """The ports compared for connections to ``dst``."""
        sentinel = {("TCP", SENTINEL_PORT), ("UDP", SENTINEL_PORT)}
        return dst.declared() | frozenset(self.numbers) | frozenset(sentinel)

    def _rule_ports(self, rule: Obj, dst: Pod) -> PortSet:
        universe = self.universe(dst)
        if not rule.get("ports"):
            return universe
        admitted: set[tuple[str, int]] = set()
        for entry in rule["ports"]:
            protocol = entry.get("protocol", "TCP")
            port = entry.get("port")
            if port is None:
                admitted |= {p for p in universe if p[0] == protocol}
            elif isinstance(port, str):
                if port in dst.ports and dst.ports[port][0] == protocol:
                    admitted.add(dst.ports[port])
            else:
                last = int(entry.get("endPort", port))
                admitted |= {p for p in universe if p[0] == protocol and port <= p[1] <= last}
        return frozenset(admitted)

    def _selecting(self, pod: Pod, direction: str) -> Iterator[Obj]:
        for policy in self.policies:
            if policy["metadata"].get("namespace") != pod.namespace:
                continue
            if direction not in policy_types(policy):
                continue
            if selects(policy["spec"]["podSelector"], pod.labels):
                yield policy

    def _admitted(self, subject: Pod, other: Pod, dst: Pod, direction: str) -> PortSet:
        """Ports of ``dst`` the policies selecting ``subject`` admit, in ``direction``."""
        chosen = list(self._selecting(subject, direction))
        if not chosen:
            return self.universe(dst)
        peers_key = "from" if direction == "Ingress" else "to"
        admitted: set[tuple[str, int]] = set()
        for policy in chosen:
            namespace = policy["metadata"]["namespace"]
            for rule in self._rules(policy, direction.lower()):
                peers = rule.get(peers_key)
                if peers and not any(peer_matches(p, other, namespace) for p in peers):
                    continue
                admitted |= self._rule_ports(rule, dst)
        return frozenset(admitted)

    def ingress(self, src: Pod, dst: Pod) -> PortSet:
        """Ports of ``dst`` that its namespace's policies let ``src`` reach."""
        return self._admitted(dst, src, dst, "Ingress")

    def egress(self, src: Pod, dst: Pod) -> PortSet:
        """Ports of ``dst`` that ``src``'s namespace's policies let ``src`` send to."""
        return self._admitted(src, dst, dst, "Egress")

    def reachable(self, src: Pod, dst: Pod) -> PortSet:
        """Ports of ``dst`` that ``src`` can open a connection to."""
        return self.ingress(src, dst) & self.egress(src, dst)


def tcp(*ports: int) -> PortSet:
    return frozenset(("TCP", port) for port in ports)


def describe(ports: Iterable[tuple[str, int]]) -> list[str]:
    """Readable, sorted: ``['TCP 51053', 'any other port']``."""
    shown = [f"{p} {n}" if n != SENTINEL_PORT else f"{p} any other port" for p, n in ports]
    return sorted(shown)


def summary(policies: Any, src: Pod, dst: Pod) -> str:
    return f"{src.name} -> {dst.name}: {describe(policies.reachable(src, dst))}"
