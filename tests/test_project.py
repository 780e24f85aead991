"""Project hygiene: the layers hold, the package lists of set-up, conda and Binder agree, the public API is __all__."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_layers_are_respected():
    """Lower layers never import higher ones (the cluster knows nothing of the Ingress controller)."""
    linter = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(linter), "--no-cache", str(ROOT / ".importlinter")], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    contracts = (ROOT / ".importlinter").read_text().count("[importlinter:contract:")
    assert contracts >= 3 and f"Contracts: {contracts} kept, 0 broken" in proc.stdout


def test_the_cluster_is_laid_out_like_kubernetes():
    """A newcomer who knows Kubernetes finds each component where it lives: no flat room of modules."""
    cluster = ROOT / "ingresslab" / "cluster"
    packages = {p.name for p in cluster.iterdir() if (p / "__init__.py").exists()}
    assert {"apimachinery", "apiserver", "storage", "client", "controllers", "node"} <= packages
    assert (cluster / "node" / "proxy" / "__init__.py").exists()
    flat = {p.name for p in cluster.glob("*.py")}
    assert flat == {"__init__.py", "cluster.py", "components.py"}, flat
    for where, module in [("apiserver", "server.py"), ("apiserver", "validation.py"), ("storage", "store.py"),
                          ("node", "kubelet.py"), ("node/proxy", "kubeproxy.py"), ("client", "record.py")]:
        assert (cluster / where / module).exists(), f"{where}/{module}"


def _setup_apt_packages(which: str = "RUNTIME") -> set[str]:
    text = (ROOT / "scripts" / "setup").read_text()
    return set(re.search(rf"{which}_PACKAGES=\(([^)]*)\)", text).group(1).split())


def test_binder_apt_list_matches_the_setup_script():
    binder = {line.strip() for line in (ROOT / "binder" / "apt.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    # Binder runs the lab, not the tests (no chromium, wrk, python3-cryptography), and conda brings Python.
    assert binder == _setup_apt_packages() - {"python3-venv"}
    assert not binder & _setup_apt_packages("TEST")


def test_conda_environments_match_pyproject():
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert yaml.safe_load((ROOT / "binder" / "environment.yml").read_text()) == conda
    conda_names = set()
    for dep in conda["dependencies"]:
        if isinstance(dep, dict):
            conda_names |= {re.split(r"[<>=]", d)[0] for d in dep["pip"]}
        else:
            conda_names.add(re.split(r"[<>=]", dep)[0])
    conda_to_pypi = {"python-kubernetes": "kubernetes", "python-graphviz": "graphviz"}
    conda_names = {conda_to_pypi.get(n, n) for n in conda_names} - {"python", "pip"}
    import tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pypi_names = {re.split(r"[<>=\[]", d)[0] for d in deps}
    assert conda_names == pypi_names


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "./lab test" in readme and "./lab start" in readme
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "./lab test"


def test_public_api_is_all():
    import ingresslab
    public = {n for n in dir(ingresslab) if not n.startswith("_") and not isinstance(getattr(ingresslab, n),
                                                                                       type(sys))}
    assert public == set(ingresslab.__all__)


def test_notebook_navigation_is_up_to_date():
    """The previous/contents/next cells are generated: scripts/notebooks.py rewrites them; here it only checks."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "notebooks.py"), "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_course_notebook_is_in_the_contents():
    contents = (ROOT / "notebooks" / "00_start_here.ipynb").read_text()
    for path in sorted((ROOT / "notebooks").glob("0[1-9]_*.ipynb")):
        assert path.name in contents, f"{path.name} is missing from the course map in 00_start_here"
