"""A multi-node Docker Swarm built on this one machine, for the multi-node engine tests.

Each node is its own `dockerd` in its own network namespace and UTS namespace (so its hostname,
the Swarm node name, is its own), with its own data root, exec root and cgroup parent. The
namespaces hang off one bridge by veth pairs, on a private subnet the host reaches through the
bridge; no node has a route anywhere else, so nothing the tests run can send traffic beyond
loopback and these addresses. Docker's FORWARD policy is DROP, so the bridge gets an ACCEPT rule
in the DOCKER-USER chain. `dockerd` is started with `nsenter --net=...`, not `ip netns exec`
(which remounts /sys, hiding the cgroup mounts: dockerd then fails with "Devices cgroup isn't
mounted").

Everything carries the PREFIX (namespaces, links, cgroups) or lives under RUN_BASE and
DATA_BASE, and nothing else is touched: the host's own dockerd and its Swarm are only asked for
`docker save` of images. `remove_leftovers()` deletes all of it, what a crashed earlier run left
too; it runs before a cluster is built and when it is torn down, under a lock so two runs never
share (or delete) each other's cluster.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from tests.support.engine import apt_install

PREFIX = "mlstk"  # every network namespace, link and cgroup this module makes starts with it
BRIDGE = f"{PREFIX}-br"
SUBNET = "10.199.13"  # .1 is the host's end of the bridge, .11, .12, ... the nodes
PREFIX_LENGTH = 24
ADDRESS_POOL = "10.200.0.0/16"  # the Swarm's overlay subnets, apart from the bridge's
RUN_BASE = Path("/run/mlstack-swarm")  # sockets, pid files, exec roots, logs (tmpfs)
DATA_BASE = Path("/var/lib/mlstack-swarm")  # data roots (images, swarm state), on a tmpfs
# A tmpfs: loading images into three data roots and deleting them again is I/O a disk takes a
# minute over (measured: 67 s to delete them from ext4); the node images need about 2 GiB.
DATA_TMPFS_SIZE = "8g"
NETNS_DIR = Path("/var/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
LOCK_FILE = Path("/tmp/mlstack-swarm-multinode.lock")
LOCK_WAIT_SECONDS = 900
FORWARD_RULE = ["DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"]
# Commands the cluster needs and the Debian package each comes from.
TOOLS = {
    "ip": "iproute2",
    "iptables": "iptables",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "hostname": "hostname",
    "dockerd": "docker.io",
    "docker": "docker.io",
}


class ClusterError(AssertionError):
    pass


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise ClusterError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result


def missing_requirements() -> str | None:
    """Why a cluster cannot be built here (installing missing tools as root), or None."""
    if os.geteuid() != 0:
        return "building Swarm nodes (network namespaces, a bridge, dockerd) needs root"
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            if shutil.which("apt-get") is None:
                return f"{tool} is missing (Debian package {package}) and apt-get is not here"
            failed = apt_install(package)
            if failed is not None:
                return failed
    return None


@contextlib.contextmanager
def exclusive(timeout: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the multi-node lock: one cluster on this machine at a time (fixed names)."""
    with LOCK_FILE.open("w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"{LOCK_FILE} still held after {timeout:.0f} s: another run's "
                        "multi-node cluster is up (this run never touches it)"
                    ) from None
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- processes and mounts of a node --------------------------------------------------------------


def _netns_inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _processes() -> dict[int, tuple[int, int | None, str]]:
    """pid -> (parent pid, network namespace inode, cgroup paths) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            ppid = next(line for line in status.splitlines() if line.startswith("PPid:"))
            parent = int(ppid.split()[1])
            netns = _netns_inode(entry / "ns" / "net")
            cgroups = (entry / "cgroup").read_text()
        except (OSError, StopIteration, ValueError):
            continue  # gone meanwhile
        found[int(entry.name)] = (parent, netns, cgroups)
    return found


def node_processes(netns_inodes: Iterable[int], cgroup_names: Iterable[str]) -> set[int]:
    """Every process of some nodes: those in their network namespaces (dockerd, containerd, the
    shims, docker-proxy), in their cgroups (the containers), and all their descendants."""
    inodes, marks = set(netns_inodes), [f"/{name}/" for name in cgroup_names]
    table = _processes()
    chosen = {
        pid
        for pid, (_, netns, cgroups) in table.items()
        if netns in inodes or any(mark in cgroups for mark in marks)
    }
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    pending = list(chosen)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in chosen:
                chosen.add(child)
                pending.append(child)
    chosen.discard(os.getpid())
    return chosen


def kill_all(pids: set[int], timeout: float = 10) -> set[int]:
    """SIGKILL these processes (by id) and wait for them to go; returns those still there."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if _alive(pid)}
        if alive:
            time.sleep(0.1)
    return alive


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; its parent reaps it


def mounts_under(roots: Iterable[Path]) -> list[str]:
    """Mount points at or below `roots`, deepest first (the order to unmount them in)."""
    prefixes = [str(root) for root in roots]
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(roots: Iterable[Path]) -> None:
    roots = list(roots)
    for _ in range(5):  # a lazy unmount can reveal a mount below it
        points = mounts_under(roots)
        if not points:
            return
        for point in points:
            _run("umount", "-l", point, check=False)


def cgroups_of(names: Iterable[str]) -> list[Path]:
    """The cgroup directories named `names` (v2: one tree; v1: one per controller)."""
    hierarchies = [CGROUP_ROOT, *(p for p in CGROUP_ROOT.iterdir() if p.is_dir())]
    return [h / name for h in hierarchies for name in names if (h / name).is_dir()]


def remove_cgroups(directories: Iterable[Path]) -> None:
    for directory in directories:
        for below in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if below.is_dir():
                with contextlib.suppress(OSError):
                    below.rmdir()
        with contextlib.suppress(OSError):
            directory.rmdir()


# --- nodes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSpec:
    labels: Mapping[str, str] = field(default_factory=dict)
    generic_resources: tuple[str, ...] = ()  # dockerd --node-generic-resource, e.g. NVIDIA-GPU=1


@dataclass
class Node:
    index: int
    spec: NodeSpec
    process: subprocess.Popen[bytes] | None = None
    _client: docker.DockerClient | None = None

    @property
    def name(self) -> str:  # netns, host-side veth, hostname and Swarm node name
        return f"{PREFIX}-n{self.index}"

    @property
    def address(self) -> str:
        return f"{SUBNET}.{10 + self.index}"

    @property
    def run_dir(self) -> Path:
        return RUN_BASE / self.name

    @property
    def data_dir(self) -> Path:
        return DATA_BASE / self.name

    @property
    def socket(self) -> str:
        return f"unix://{self.run_dir / 'docker.sock'}"

    @property
    def cgroup(self) -> str:
        return self.name

    @property
    def log(self) -> Path:
        return self.run_dir / "dockerd.log"

    @property
    def netns(self) -> Path:
        return NETNS_DIR / self.name

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.socket, timeout=60)
        return self._client

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def plug_in(self) -> None:
        """The namespace and its veth pair: eth0 inside with the node's address, the host end
        on the bridge. No default route: the node reaches the bridge's subnet only."""
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.name, "type", "veth", "peer", "name", "eth0",
             "netns", self.name)  # fmt: skip
        _run("ip", "link", "set", self.name, "master", BRIDGE, "up")
        inside = ("nsenter", f"--net={self.netns}", "ip")
        _run(*inside, "addr", "add", f"{self.address}/{PREFIX_LENGTH}", "dev", "eth0")
        _run(*inside, "link", "set", "eth0", "up")
        _run(*inside, "link", "set", "lo", "up")

    def start(self) -> None:
        """Start this node's dockerd (in a fresh UTS namespace named after the node)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / "daemon.json"
        config.write_text("{}\n")  # never the host's /etc/docker/daemon.json
        daemon = [
            "dockerd",
            f"--config-file={config}",
            f"--host={self.socket}",
            f"--data-root={self.data_dir}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'docker.pid'}",
            f"--cgroup-parent=/{self.cgroup}",
            *(f"--node-generic-resource={r}" for r in self.spec.generic_resources),
        ]
        script = 'hostname "$1" && shift && exec nsenter --net="$1" -- "${@:2}"'
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "unshare",
                    "--uts",
                    "--",
                    "bash",
                    "-c",
                    script,
                    "bash",
                    self.name,
                    str(self.netns),
                    *daemon,
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise ClusterError(f"dockerd of {self.name} exited:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if self.client.ping():
                    return
            if time.monotonic() > deadline:
                raise ClusterError(f"dockerd of {self.name} did not answer:\n{self.log_tail()}")
            time.sleep(0.2)

    def crash(self) -> int:
        """Everything the node runs dies at once: SIGKILL to its dockerd, containerd, shims and
        containers. The kernel then closes their connections (a power cut would not: cut_link()
        first for that). Returns how many processes were killed."""
        inode = _netns_inode(self.netns)
        pids = node_processes([inode] if inode else [], [self.cgroup])
        alive = kill_all(pids)
        if self.process is not None and self.process.poll() is None:
            self.process.wait(timeout=10)  # reap our child
        if alive:
            raise ClusterError(f"processes of {self.name} survived SIGKILL: {sorted(alive)}")
        self.close_client()
        return len(pids)

    def kill_daemon(self) -> None:
        """SIGKILL this node's dockerd alone (its containerd dies with it; the shims and the
        containers they run do not)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.close_client()

    def cut_link(self, up: bool = False) -> None:
        """Take the node off the bridge (its host-side veth down), or back with `up`."""
        _run("ip", "link", "set", self.name, "up" if up else "down")

    def reboot(self) -> None:
        """Start again after a crash, like a rebooted machine: nothing of the node still runs,
        no mount and nothing of /run (the exec root) survives, the link is up; the data root
        (images, Swarm state) stays."""
        self.crash()
        self.cut_link(up=True)
        unmount_all([self.run_dir, self.data_dir])
        shutil.rmtree(self.run_dir / "exec", ignore_errors=True)
        self.start()

    def close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    """Nodes 1..n, all Swarm managers; node 1 initialised the Swarm."""

    nodes: list[Node]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r}; nodes: {[n.name for n in self.nodes]}")

    def client(self, avoid: Iterable[Node] = ()) -> docker.DockerClient:
        """A manager's client: the first running node not in `avoid`."""
        avoided = {n.name for n in avoid}
        for node in self.nodes:
            if node.running and node.name not in avoided:
                return node.client
        raise ClusterError("no running manager left")

    def swarm_nodes(self, client: docker.DockerClient | None = None) -> dict[str, dict[str, Any]]:
        """Swarm node ID -> the engine's node object."""
        api = (client or self.client()).api
        return {n["ID"]: n for n in api.nodes()}

    def node_names(self, client: docker.DockerClient | None = None) -> dict[str, str]:
        """Swarm node ID -> hostname (our node name)."""
        return {i: n["Description"]["Hostname"] for i, n in self.swarm_nodes(client).items()}

    def leader(self, client: docker.DockerClient | None = None) -> Node | None:
        for swarm_node in self.swarm_nodes(client).values():
            if (swarm_node.get("ManagerStatus") or {}).get("Leader"):
                return self.node(swarm_node["Description"]["Hostname"])
        return None

    def set_availability(self, node: Node, availability: str) -> None:
        api = self.client().api
        (found,) = [n for n in api.nodes() if n["Description"]["Hostname"] == node.name]
        spec = {**found["Spec"], "Availability": availability}
        api.update_node(found["ID"], found["Version"]["Index"], spec)

    def states(self, client: docker.DockerClient | None = None) -> dict[str, tuple[str, str]]:
        """Node name -> (status, availability) as the managers see them."""
        return {
            n["Description"]["Hostname"]: (n["Status"]["State"], n["Spec"]["Availability"])
            for n in self.swarm_nodes(client).values()
        }

    def all_ready(self) -> bool:
        try:
            states = self.states()
        except Exception:  # noqa: BLE001 - a manager mid-election answers with an error
            return False
        return len(states) == len(self.nodes) and all(
            s == ("ready", "active") for s in states.values()
        )

    def load_images(self, tags: list[str], host: docker.DockerClient) -> None:
        """`docker save` the tags once from the host's engine and `docker load` them into every
        node at the same time (nodes have no registry)."""
        for tag in tags:
            host.images.get(tag)  # a clear error before a long save
        archive = DATA_BASE / "images.tar"
        _run("docker", "save", "--output", str(archive), *tags)
        try:
            loads = [
                subprocess.Popen(
                    ["docker", "--host", node.socket, "load", "--input", str(archive)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for node in self.nodes
            ]
            for node, load in zip(self.nodes, loads, strict=True):
                _, error = load.communicate(timeout=600)
                if load.returncode != 0:
                    raise ClusterError(f"docker load into {node.name} failed: {error!r}")
        finally:
            archive.unlink(missing_ok=True)

    def close(self) -> None:
        for node in self.nodes:
            node.close_client()


def build_cluster(specs: list[NodeSpec]) -> Cluster:
    """Bridge, rule, namespaces, daemons; a Swarm of managers with the nodes' labels. The
    caller holds `exclusive()` and has called `remove_leftovers()`."""
    _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "add", f"{SUBNET}.1/{PREFIX_LENGTH}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    _run("iptables", "-I", *FORWARD_RULE)
    DATA_BASE.mkdir(parents=True, exist_ok=True)
    _run(
        "mount",
        "-t",
        "tmpfs",
        "-o",
        f"size={DATA_TMPFS_SIZE},mode=0711",
        "mlstk-data",
        str(DATA_BASE),
    )
    cluster = Cluster([Node(index, spec) for index, spec in enumerate(specs, start=1)])
    for node in cluster.nodes:
        node.plug_in()
    _in_parallel([node.start for node in cluster.nodes])
    first, *others = cluster.nodes
    first.client.swarm.init(
        advertise_addr=first.address,
        listen_addr=f"{first.address}:2377",
        default_addr_pool=[ADDRESS_POOL],
        subnet_size=24,
    )
    token = first.client.swarm.attrs["JoinTokens"]["Manager"]
    for node in others:  # one at a time: each join changes the Raft membership
        node.client.swarm.join(
            remote_addrs=[f"{first.address}:2377"],
            join_token=token,
            listen_addr=f"{node.address}:2377",
            advertise_addr=node.address,
        )
    api = first.client.api
    for swarm_node in api.nodes():
        node = cluster.node(swarm_node["Description"]["Hostname"])
        spec = {**swarm_node["Spec"], "Labels": dict(node.spec.labels)}
        api.update_node(swarm_node["ID"], swarm_node["Version"]["Index"], spec)
    return cluster


def _in_parallel(jobs: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# --- what exists, and removing it ----------------------------------------------------------------


def _our_netns() -> list[str]:
    listed = _run("ip", "netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(f"{PREFIX}-")]


def _rule_present() -> bool:
    return _run("iptables", "-C", *FORWARD_RULE, check=False).returncode == 0


def _bridge_present() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def _our_cgroup_names() -> list[str]:
    return sorted(
        {
            p.name
            for h in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()]
            if h.is_dir()
            for p in h.glob(f"{PREFIX}-*")
        }
    )


def leftovers() -> list[str]:
    """Everything of ours that exists right now (empty once a cluster is fully removed)."""
    found = [f"network namespace {name}" for name in _our_netns()]
    inodes = [i for i in (_netns_inode(NETNS_DIR / n) for n in _our_netns()) if i]
    pids = node_processes(inodes, _our_cgroup_names())
    found += [f"process {pid}" for pid in sorted(pids)]
    found += [f"mount {point}" for point in mounts_under([RUN_BASE, DATA_BASE])]
    found += [f"directory {d}" for d in (RUN_BASE, DATA_BASE) if d.exists()]
    found += [f"cgroup {d}" for d in cgroups_of(_our_cgroup_names())]
    if _bridge_present():
        found.append(f"bridge {BRIDGE}")
    if _rule_present():
        found.append(f"iptables rule {' '.join(FORWARD_RULE)}")
    return found


def remove_leftovers() -> None:
    """Remove every trace of a cluster (this run's or a crashed one's): processes first, then
    mounts, namespaces, bridge, rule, directories and cgroups."""
    names = _our_netns()
    inodes = [i for i in (_netns_inode(NETNS_DIR / n) for n in names) if i]
    survivors = kill_all(node_processes(inodes, _our_cgroup_names()))
    if survivors:
        raise ClusterError(f"processes of an earlier cluster survived SIGKILL: {survivors}")
    unmount_all([RUN_BASE, DATA_BASE])
    for name in names:
        _run("ip", "netns", "delete", name, check=False)
    if _bridge_present():
        _run("ip", "link", "delete", BRIDGE, check=False)
    while _rule_present():
        _run("iptables", "-D", *FORWARD_RULE)
    for directory in (RUN_BASE, DATA_BASE):
        shutil.rmtree(directory, ignore_errors=True)
    remove_cgroups(cgroups_of(_our_cgroup_names()))
