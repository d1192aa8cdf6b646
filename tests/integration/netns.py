"""Network namespaces for the integration tests (test_discovery, test_uplink).

A test makes its own namespaces (unique names, deleted whatever happens) and runs servers in
them: a process forked from a thread that is inside a namespace stays in it, and so do the
sockets and threads that thread makes (Netns.inside(), setns(2) on the calling thread only).
`ip netns exec` runs a command in one (Netns.run(), Netns.popen()).

Also here: a veth pair between two namespaces, and a firewall rule that drops new inbound
connections arriving on one interface (nft, else iptables).

Needs root; why_no_netns() says why not, for a skip.
"""
import ctypes
import itertools
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest

CLONE_NEWNET = 0x40000000
_seq = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def why_no_netns():
    """None where this process can make namespaces, else why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root (euid %d)" % os.geteuid()
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if not hasattr(_libc, "setns"):
        return "libc has no setns()"
    return None


def ip(*args, check=True):
    """Runs `ip ARGS`; fails the test with its error output when it fails and check is set."""
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=10)
    if check and p.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


class Netns:
    """One named namespace (/run/netns/NAME). procs: what popen() started, stopped by the
    factory before the namespace is deleted."""

    def __init__(self, name):
        self.name = name
        self.procs = []

    @contextmanager
    def inside(self):
        """Runs the block with this thread in the namespace: sockets and threads made there
        stay in it, and so do processes forked from it."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            if _libc.setns(there, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.name)
            try:
                yield
            finally:
                if _libc.setns(here, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(here)
            os.close(there)

    def run(self, *args, timeout=20):
        """`ip netns exec NAME ARGS`: the finished process (output captured as text)."""
        return subprocess.run(["ip", "netns", "exec", self.name] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name] + list(args), **kw)
        self.procs.append(p)
        return p

    def pids(self):
        """The processes in the namespace now (`ip netns pids`)."""
        p = ip("netns", "pids", self.name, check=False)
        return [int(w) for w in p.stdout.split() if w.isdigit()]


class NetnsFactory:
    """Makes namespaces named PREFIX-PID-N and deletes them on close(), after stopping what
    runs in them. As a context manager it skips the test (with the reason) where namespaces
    cannot be made, and closes at the end:

        @pytest.fixture
        def make_netns():
            with NetnsFactory("vgdisc") as make:
                yield make
    """

    def __init__(self, prefix):
        self.prefix = prefix
        self.made = []

    def __enter__(self):
        why = why_no_netns()
        if why:
            pytest.skip(why)
        return self

    def __exit__(self, *exc):
        self.close()

    def __call__(self, lo_up=False):
        """A new namespace (its loopback down unless lo_up): a Netns."""
        name = "%s-%d-%d" % (self.prefix, os.getpid(), next(_seq))
        p = ip("netns", "add", name, check=False)
        if p.returncode != 0:
            pytest.skip("cannot make a network namespace: ip netns add: %s" % p.stderr.strip())
        ns = Netns(name)
        self.made.append(ns)
        if lo_up:
            ip("-n", name, "link", "set", "lo", "up")
        return ns

    def close(self):
        """Stops each namespace's processes (its popen()s, then anything still inside it:
        the servers the test forked there) and deletes it. Returns what had to be killed."""
        killed = []
        for ns in self.made:
            for p in ns.procs:
                if p.poll() is None:
                    p.kill()
                p.wait(timeout=10)
            # Last resort, by pid: only this test's processes can be in its namespace (never
            # this process itself, whose other threads may have been inside).
            left = [pid for pid in ns.pids() if pid != os.getpid()]
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append((ns.name, pid))
                except ProcessLookupError:
                    pass
            for _ in range(100):
                if not [pid for pid in ns.pids() if pid != os.getpid()]:
                    break
                time.sleep(0.05)
            ip("netns", "del", ns.name, check=False)
        self.made = []
        return killed


def veth_pair(ns_a, dev_a, cidr_a, ns_b, dev_b, cidr_b):
    """A veth pair made directly in its two namespaces (so its names need only be unique in
    each), dev_a with address cidr_a in ns_a and dev_b with cidr_b in ns_b, both up. Deleting
    either namespace deletes the pair."""
    ip("link", "add", dev_a, "netns", ns_a.name, "type", "veth", "peer", "name", dev_b,
       "netns", ns_b.name)
    ip("-n", ns_a.name, "addr", "add", cidr_a, "dev", dev_a)
    ip("-n", ns_b.name, "addr", "add", cidr_b, "dev", dev_b)
    ip("-n", ns_a.name, "link", "set", dev_a, "up")
    ip("-n", ns_b.name, "link", "set", dev_b, "up")
    wait_up(ns_a, dev_a)
    wait_up(ns_b, dev_b)


def wait_up(ns, dev, timeout=5.0):
    """Waits until dev's operational state is UP. A link set up carries traffic only once
    the kernel's link watch has run (up to a second later): until then what is sent on it
    is dropped, and a TCP SYN waits a second for its retransmission."""
    deadline = time.monotonic() + timeout
    state = None
    for _ in range(int(timeout / 0.02) + 2):
        state = ip("-n", ns.name, "-br", "link", "show", "dev", dev).stdout.split()
        if len(state) > 1 and state[1] == "UP":
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    raise AssertionError("%s in %s is not up after %.0f s: %r" % (dev, ns.name, timeout, state))


def drop_new_inbound(ns, dev):
    """In namespace ns, drops new connections arriving on dev (a host behind NAT: it can dial
    out and get the answers, nothing can dial in): with nft (table inet vg, input chain,
    `iifname DEV ct state new drop`), else iptables. Returns which one did it; skips the
    test, with the reason, when neither can."""
    tried = []
    if shutil.which("nft"):
        rules = ("table inet vg {\n"
                 "  chain input {\n"
                 "    type filter hook input priority 0; policy accept;\n"
                 "    iifname \"%s\" ct state new drop\n"
                 "  }\n"
                 "}\n" % dev)
        p = subprocess.run(["ip", "netns", "exec", ns.name, "nft", "-f", "-"], input=rules,
                           capture_output=True, text=True, timeout=20)
        if p.returncode == 0:
            return "nft: iifname %s ct state new drop" % dev
        tried.append("nft: %s" % p.stderr.strip())
    else:
        tried.append("no nft command (Debian package nftables)")
    if shutil.which("iptables"):
        p = ns.run("iptables", "-A", "INPUT", "-i", dev, "-m", "conntrack",
                   "--ctstate", "NEW", "-j", "DROP")
        if p.returncode == 0:
            return "iptables: -i %s --ctstate NEW -j DROP" % dev
        tried.append("iptables: %s" % p.stderr.strip())
    else:
        tried.append("no iptables command")
    pytest.skip("cannot drop inbound connections in a namespace: " + "; ".join(tried))
