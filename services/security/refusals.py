"""The two ways a call is refused, each composing its message from the call it refuses."""

from __future__ import annotations

from services.common.errors import UnauthenticatedError
from services.security.policy import Rule
from services.security.principal import Principal

HOW_TO_AUTHENTICATE = (
    "send 'authorization: Bearer <token>' metadata (anneal commands take --token, ANNEAL_TOKEN "
    "or the tokens `anneal serve` wrote under <state>/security/tokens)"
)


def _short(method: str) -> str:
    """``SearchService.BuildIndex`` of ``/anneal.search.v1.SearchService/BuildIndex``."""
    service, _, name = method.lstrip("/").rpartition("/")
    return f"{service.rpartition('.')[2]}.{name}"


class CallRefused(PermissionError):
    """A call the access policy refused; ``method``, ``caller`` and ``reason`` say why."""

    def __init__(self, method: str, caller: Principal | None, reason: str) -> None:
        self.method = method
        self.caller = caller
        self.reason = reason
        super().__init__(self.compose())

    def compose(self) -> str:
        return f"{_short(self.method)}: {self.reason}"


class NotAuthenticated(CallRefused, UnauthenticatedError):
    """No credential, or one that is not valid: UNAUTHENTICATED."""

    def __init__(self, method: str, problem: str) -> None:
        super().__init__(method, None, problem)

    def compose(self) -> str:
        return f"{_short(self.method)} needs a valid credential: {self.reason}"


class NotAllowed(CallRefused):
    """A known caller whose role the rule does not admit: PERMISSION_DENIED."""

    def __init__(self, method: str, caller: Principal, rule: Rule) -> None:
        self.rule = rule
        super().__init__(method, caller, f"needs {rule.needs()}")

    def compose(self) -> str:
        assert self.caller is not None
        return (
            f"{_short(self.method)} needs {self.rule.needs()}; "
            f"{self.caller.describe()} may not call it"
        )
