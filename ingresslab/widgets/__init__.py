"""ipywidgets UIs for the notebooks: thin GUIs over plain models.

    from ingresslab.widgets import IngressBuilder, RequestWidget, ReplicasSlider, CostWidget
    IngressBuilder(lab)            # write an Ingress with a form; live YAML + plain-word validation; Apply + diff
    RequestWidget(lab)             # host, path, http/https → status, body, the pod that answered
    ReplicasSlider(lab, "site")    # scale a Deployment, watch its EndpointSlices follow
    CostWidget()                   # one LoadBalancer per Service vs one Ingress (illustrative prices)
    TraceForm(lab, hosts=[…], paths=[…])   # send a request, draw the hops it took
    AnswerForm(exercise, yaml)     # an exercise's YAML in a box, and a check button

Each widget is a `VBox` subclass with private children that copy values into its model; the model modules
(`*_model.py`, `debounce.py`) import no widget library and are tested alone. Outside a notebook a widget prints
its model's summary. Layers: notebooks above; `ingresslab.exercises` (plain words, requests, the controller wait)
and `ingresslab.lab` below.
"""
from .builder import IngressBuilder
from .builder_model import ApplyReport, IngressForm, PathRow, Preview, ServiceChoice, conf_changes
from .cost import CostWidget
from .progress import start_lab
from .cost_model import CostModel
from .debounce import Debouncer, ManualClock
from .forms import AnswerForm, TraceForm
from .replicas import ReplicasSlider
from .replicas_model import ReplicasModel, Snapshot
from .request import RequestWidget
from .request_model import RequestForm, RequestResult

__all__ = [
    "AnswerForm", "ApplyReport", "CostModel", "CostWidget", "Debouncer", "IngressBuilder", "IngressForm", "ManualClock", "PathRow",
    "Preview", "ReplicasModel", "ReplicasSlider", "RequestForm", "RequestResult", "RequestWidget", "ServiceChoice",
    "Snapshot", "TraceForm", "conf_changes", "start_lab",
]
