"""Notebook exercises: the learner writes an Ingress, the lab checks it with real requests and explains.

    from ingresslab.exercises import MultiHost
    ex = MultiHost(lab)
    ex                      # the task and the requests the check will send
    ex.check(answer)        # YAML text, a dict, a rules list → an Outcome (green, red or amber; `.passed`)
    ex.hint(); ex.solution()
    wildcard = WildcardHost(lab)   # each exercise has its own name, and its card says `wildcard.check(answer)`

Each exercise is a class whose data is declared (`mysite.py`: the expected routes, the hint, the solution); the
check (`routing.py`) applies the answer in its own scratch namespace (`scratch.py`), sends real requests through
the controller's NodePort (`probe.py`) and explains wrong routes with the spec's reference matcher. Refusals are
said in plain words (`plainwords.py`, also used by the widgets), outcomes shown by `outcome.py`.

Layers: notebooks and `ingresslab.widgets` above; `ingresslab.lab` and `ingresslab.ingress` below. This package
never imports its siblings `trace` and `viz`.
"""
from .answers import Answer, NotAnAnswer, read_answer
from .gateway_routes import MultiHostRoutes
from .mysite import EXERCISES, DefaultBackend, MultiHost, PathPrecedence, WildcardHost
from .outcome import Finding, Hint, Incorrect, Outcome, Request, Solution
from .plainwords import explain_causes
from .probe import Entry, Reply, send
from .routing import Expect, RoutingExercise
from .scratch import Scratch, wait_for_controller

__all__ = [
    "Answer", "DefaultBackend", "EXERCISES", "Entry", "Expect", "Finding", "Hint", "Incorrect", "MultiHost",
    "MultiHostRoutes", "NotAnAnswer", "Outcome", "PathPrecedence", "Reply", "Request", "RoutingExercise", "Scratch", "Solution",
    "WildcardHost", "explain_causes", "read_answer", "send", "wait_for_controller",
]
