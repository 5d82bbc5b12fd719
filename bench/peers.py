"""The measurements of bench/peers.sh (which installs the tools, builds the
root and says what each figure is): `peers.py run W ROOT BIN ROUNDS N`,
`peers.py syscalls W ROOT BIN` for the system-call rows alone, and
`peers.py cleanup W ROOT BIN` for whatever a run left behind. PEERS_ONLY=http
runs the HTTP measurement alone, PEERS_ONLY=memory the host's memory
alone; PEERS_SYSCALL_ROUNDS sets the system calls' rounds (default 11);
PEERS_HTTP_ROUNDS and PEERS_HTTP_SECS set its rounds and the length of
each wrk run."""

import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

W, ROOT, BIN = sys.argv[2], sys.argv[3], sys.argv[4]
JMK, JEXEC, JLS = f"{BIN}/jmk", f"{BIN}/jexec-rs", f"{BIN}/jls-rs"
LXCPATH = f"{W}/lxc"
PODMAN = ["podman", "--cgroup-manager=cgroupfs", "--events-backend=file"]
# podman's default rlimits (nofile 1048576, nproc 4194304) are above the
# hard limits root has here and cannot raise: crun then fails to set them.
PODMAN_OPTS = ["--network", "none", "--ulimit", "nofile=1024:4096", "--ulimit", "nproc=1024:4096"]
SYSCALLS = "/usr/local/bin/syscalls"
NSPAWN = ["systemd-nspawn", "-q", "-D", ROOT, "--register=no", "--keep-unit", "--read-only"]
BWRAP = ["bwrap", "--ro-bind", ROOT, "/", "--proc", "/proc", "--dev", "/dev",
         "--unshare-all", "--die-with-parent"]


# HTTP: nginx serving SITE/www/1k.html in every environment, each behind
# its tool's own bridge on a /24 of its own (the tool's address .10, the
# bridge .1); crun and runc share one bridge. Only 10.213.0.0/16.
SITE = "/srv/peers"
HTTP_PORT = 8080
HOST_HTTP = "127.0.0.1:18213"
NET = {"jkit": "10.213.230", "oci": "10.213.231", "LXC": "10.213.232", "podman": "10.213.233",
       "nspawn": "10.213.234"}
BRIDGE = {"jkit": "jkpbrj0", "oci": "jkpbro0", "LXC": "jkpbrl0", "nspawn": "jkpbrn0"}
OCI_HOST = {"crun": 10, "runc": 11}
PODMAN_NET = "jkp-net"
PODMAN_NETDIR = "/etc/containers/networks"
NSPAWN_MACHINE = "jkph"
NFT_BEFORE = f"{W}/nft-tables-before"
PODMAN_ID = f"{W}/podman-http-id"


def run(cmd, check=True, out=False):
    # Files, not pipes: a detached container keeps the tool's stdio open.
    with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
        code = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e).returncode
        o.seek(0)
        e.seek(0)
        stdout, stderr = o.read().decode(errors="replace"), e.read().decode(errors="replace")
    if check and code != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {code}: {stderr.strip()[-300:]}")
    return stdout if out else code


def timed(cmd):
    t = time.perf_counter()
    run(cmd)
    return time.perf_counter() - t


def bundle(name, args, seccomp=None, netns=None):
    """An OCI bundle of `crun spec` on ROOT (read-only); with `netns`, the
    network namespace at that path, a tmpfs /tmp and podman's default
    capabilities (nginx's master sets its workers' groups)."""
    d = f"{W}/oci-{name}"
    os.makedirs(d, exist_ok=True)
    if not os.path.exists(f"{d}/config.json"):
        subprocess.run(["crun", "spec"], cwd=d, check=True)
    c = json.load(open(f"{d}/config.json"))
    c["root"] = {"path": ROOT, "readonly": True}
    c["process"]["args"] = args
    c["process"]["terminal"] = False
    if seccomp:
        c["linux"]["seccomp"] = seccomp
    if netns:
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
        c["linux"]["namespaces"].append({"type": "network", "path": netns})
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "mode=1777"]})
        caps = sorted(PODMAN_CAPS)
        for k in ("bounding", "effective", "permitted"):
            c["process"]["capabilities"][k] = caps
    json.dump(c, open(f"{d}/config.json", "w"))
    return d


PODMAN_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
               "CAP_SETUID", "CAP_SYS_CHROOT"}


def podman_profile():
    """podman's default seccomp profile as the OCI section podman makes of
    it for its default capabilities on amd64."""
    p = json.load(open("/usr/share/containers/seccomp.json"))
    arches = []
    for a in p["archMap"]:
        if a["architecture"] == "SCMP_ARCH_X86_64":
            arches = [a["architecture"]] + a.get("subArchitectures", [])
    rules = []
    for s in p["syscalls"]:
        inc, exc = s.get("includes") or {}, s.get("excludes") or {}
        if inc.get("caps") and not set(inc["caps"]) <= PODMAN_CAPS:
            continue
        if inc.get("arches") and not {"amd64", "x86_64"} & set(inc["arches"]):
            continue
        if exc.get("caps") and set(exc["caps"]) & PODMAN_CAPS:
            continue
        r = {"names": s["names"], "action": s["action"]}
        if s.get("args"):
            r["args"] = s["args"]
        if s.get("errnoRet") is not None:
            r["errnoRet"] = s["errnoRet"]
        rules.append(r)
    out = {"defaultAction": p["defaultAction"], "architectures": arches, "syscalls": rules}
    if p.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = p["defaultErrnoRet"]
    return out


def pid_ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def processes_in(leader):
    ns = pid_ns(leader)
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and pid_ns(p) == ns]


def descendants(pid):
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            out.append(k)
            todo.append(k)
    return out


def descendant_named(pid, comm):
    """The first process below pid whose command name is comm, if any."""
    for d in descendants(pid):
        try:
            if open(f"/proc/{d}/comm").read().strip() == comm:
                return d
        except OSError:
            pass
    return None


def pss_kb(pids):
    total = 0
    for p in set(pids):
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def kmem_kb(leader):
    """The kernel memory charged to the memory cgroup of `leader`, if it
    has one of its own (not this script's)."""
    def memcg(pid):
        for line in open(f"/proc/{pid}/cgroup"):
            hid, ctrl, path = line.rstrip("\n").split(":", 2)
            if "memory" in ctrl.split(","):
                return ("v1", path)
        for line in open(f"/proc/{pid}/cgroup"):
            if line.startswith("0::"):
                return ("v2", line.rstrip("\n")[3:])
        return None
    own, mine = memcg(leader), memcg(os.getpid())
    if own is None or own == mine:
        return None
    if own[0] == "v1":
        return int(open(f"/sys/fs/cgroup/memory{own[1]}/memory.kmem.usage_in_bytes").read()) // 1024
    for line in open(f"/sys/fs/cgroup{own[1]}/memory.stat"):
        if line.startswith("kernel "):
            return int(line.split()[1]) // 1024
    return None


HOST_MEMORY = ("AnonPages", "Slab", "KernelStack", "PageTables", "Percpu", "Shmem")


def host_memory_kb():
    """What the host's memory holds that environments make: anonymous
    pages, slab objects, kernel stacks, page tables, per-CPU and shared
    memory (kB, /proc/meminfo); the page cache is left out."""
    total = 0
    for line in open("/proc/meminfo"):
        key, value = line.split(":", 1)
        if key in HOST_MEMORY:
            total += int(value.split()[0])
    return total


def settled_host_memory_kb():
    """host_memory_kb() once it holds still: what environments stopped
    before gave back late (a network namespace is torn down by a kernel
    worker, seconds after its last process) would otherwise count against
    the environments started next."""
    seen = [host_memory_kb()]
    end = time.time() + 60
    while time.time() < end:
        time.sleep(0.5)
        seen.append(host_memory_kb())
        if len(seen) >= 5 and max(seen[-5:]) - min(seen[-5:]) < 256:
            break
    return seen[-1]


def host_memory_passes(tools, n, up, failed):
    """The host's memory per environment of each tool, in two passes (the
    tools in reverse order, then in order), each tool starting its n
    environments and stopping them before the next; a tool that fails is
    put in `failed`. Prints the passes' figures."""
    memory = {}
    for order in (list(reversed(tools)), tools):
        for t in order:
            if t.name in failed:
                continue
            try:
                memory.setdefault(t.name, []).append(host_memory_of(t, n, up))
            except Exception as e:  # noqa: BLE001
                failed[t.name] = f"environment {up[t.name]}: {e}"
            for i in range(up[t.name]):
                t.down(i)
            up[t.name] = 0
    print("host's memory per environment, reverse-order pass / forward pass: " + ", ".join(
        f"{t.name} {memory[t.name][0]:.0f} / {memory[t.name][1]:.0f} kB"
        for t in tools if t.name not in failed))
    return memory


def host_memory_of(tool, n, up):
    """Start `tool`'s environments 0 to n-1 (counted in `up`); the host's
    memory they took, per environment."""
    before = settled_host_memory_kb()
    for i in range(n):
        tool.up(i)
        up[tool.name] = i + 1
    return (settled_host_memory_kb() - before) / n


def wait_for(pred, what, secs=20):
    end = time.time() + secs
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


def nginx_conf(tmp, listen, foreground):
    """One configuration for every environment (rdr.sh's): one worker,
    keep-alive, no access log, its writable files under `tmp`."""
    temps = "".join(f"  {k}_temp_path {tmp}-{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return ("daemon off;\n" if foreground else "") + f"""user root;
worker_processes 1;
pid {tmp}.pid;
error_log {tmp}-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_timeout 65;
  keepalive_requests 1000000;
{temps}  server {{ listen {listen}; root {SITE}/www; }}
}}
"""


def write_site():
    d = f"{ROOT}{SITE}"
    os.makedirs(f"{d}/www", exist_ok=True)
    with open(f"{d}/www/1k.html", "w") as f:
        f.write("a" * 1024)
    for name, text in (("nginx.conf", nginx_conf("/tmp/nginx", HTTP_PORT, False)),
                       ("nginx-fg.conf", nginx_conf("/tmp/nginx", HTTP_PORT, True)),
                       ("nginx-host.conf", nginx_conf("/tmp/jkp-host-nginx", HOST_HTTP, False))):
        with open(f"{d}/{name}", "w") as f:
            f.write(text)


def bridge(name, net):
    """A bridge holding NET.1/24, as a CNI bridge plugin or a user makes it."""
    run(["ip", "link", "add", name, "type", "bridge"])
    run(["ip", "addr", "add", f"{net}.1/24", "dev", name])
    run(["ip", "link", "set", name, "up"])


def netns_on_bridge(ns, veth, br, addr, gateway):
    """A network namespace with a veth whose host end is a port of `br`
    and whose other end is eth0 holding `addr`/24, a default route via
    `gateway`: what CNI's bridge plugin does for a runtime's bundle."""
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", veth, "master", br, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", gateway])


def serves(url):
    """Whether `url` answers with the 1 KiB page."""
    try:
        return len(urllib.request.urlopen(url, timeout=2).read()) == 1024
    except OSError:
        return False


def wrk(url, secs):
    out = run(["wrk", "-t2", "-c64", f"-d{secs}s", url], out=True)
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk {url}: {out.strip()[-300:]}")
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"wrk {url}: no Requests/sec in {out.strip()[-300:]}")


def nft_tables():
    return set(run(["nft", "list", "tables"], check=False, out=True).splitlines())


def forget_netavark():
    """The iptables rules and chains netavark leaves (NETAVARK*), and the
    tables it made that were not there before the run."""
    before = set(open(NFT_BEFORE).read().splitlines()) if os.path.exists(NFT_BEFORE) else None
    for table in nft_tables():
        fam, name = table.split()[1:3]
        text = run(["nft", "-a", "list", "table", fam, name], check=False, out=True)
        if "NETAVARK" not in text:
            continue
        if before is not None and table not in before:
            run(["nft", "delete", "table", fam, name], check=False)
            continue
        chain, ours = None, []
        for line in text.splitlines():
            w = line.split()
            if w[:1] == ["chain"]:
                chain = w[1]
                if chain.startswith("NETAVARK"):
                    ours.append(chain)
            elif chain and not chain.startswith("NETAVARK") and "NETAVARK" in line and "# handle" in line:
                run(["nft", "delete", "rule", fam, name, chain, "handle", w[-1]], check=False)
        for c in ours:
            run(["nft", "flush", "chain", fam, name, c], check=False)
        for c in ours:
            run(["nft", "delete", "chain", fam, name, c], check=False)


def net_cleanup():
    """Everything the HTTP measurement makes on the host, by name."""
    pid = f"{ROOT}/tmp/jkp-host-nginx.pid"
    if os.path.exists(pid):
        try:
            os.kill(int(open(pid).read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    for p in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{p}/cmdline").read().split("\0")
        except OSError:
            continue
        if f"--network-bridge={BRIDGE['nspawn']}" in argv:
            for d in descendants(int(p)) + [int(p)]:
                try:
                    os.kill(d, signal.SIGKILL)
                except OSError:
                    pass
    # podman's rm has left the container's crun state behind (stopped).
    if os.path.exists(PODMAN_ID):
        run(["crun", "delete", "-f", open(PODMAN_ID).read().strip()], check=False)
    run(PODMAN + ["network", "rm", "-f", PODMAN_NET], check=False)
    if os.path.exists(f"{PODMAN_NETDIR}/{PODMAN_NET}.json"):
        os.unlink(f"{PODMAN_NETDIR}/{PODMAN_NET}.json")
    forget_netavark()
    for tool in OCI_HOST:
        run(["ip", "netns", "del", f"jkph-{tool}"], check=False)
        run(["ip", "link", "del", f"jkpv{tool}"], check=False)
    run(["ip", "link", "del", "jkpvlxc"], check=False)
    for br in BRIDGE.values():
        run(["ip", "link", "del", br], check=False)
    run(["nft", "delete", "table", "inet", f"jkit_{BRIDGE['jkit']}"], check=False)
    subprocess.run(["sh", "-c", f"rm -rf {ROOT}/tmp/jkp-host-nginx* {ROOT}{SITE}"])


class Jkit:
    name = "jkit"

    def setup(self):
        os.makedirs(os.environ["JKIT_CONF_DIR"], exist_ok=True)
        with open(f"{os.environ['JKIT_CONF_DIR']}/jkp.conf", "w") as f:
            f.write(f"jkp {{\n\tpath = {ROOT};\n\thost.hostname = jkp;\n\tmount.devfs;\n\tpersist;\n}}\n")

    def true(self):
        return timed([JMK, "-c", "name=jkt", f"path={ROOT}", "mount.devfs", "command=/bin/true"])

    def start(self):
        return timed([JMK, "start", "jkp"])

    def stop(self):
        return timed([JMK, "stop", "jkp"])

    def up(self, i):
        run([JMK, "-c", f"name=jk{i}", f"path={ROOT}", "mount.devfs", "persist"])

    def down(self, i):
        run([JMK, "-r", f"jk{i}"], check=False)

    def exec(self, argv, out=False):
        return run([JEXEC, "jk0"] + argv, out=out)

    def list(self):
        return [JLS]

    def leader(self, i):
        st = json.load(open(f"{os.environ['JKIT_RUN_DIR']}/jails/jk{i}/state.json"))
        return st["init"]["pid"], []

    def http_up(self):
        """A jail with its own address on jkit's bridge, as jmk makes it
        (the bridge and its gateway address made on first use), a tmpfs
        /tmp, nginx started in it with jexec."""
        net = NET["jkit"]
        run([JMK, "-c", "name=jkh", f"path={ROOT}", "mount.devfs", "persist",
             f"mount=tmpfs {ROOT}/tmp tmpfs rw 0 0",
             f"jkit.bridge={BRIDGE['jkit']}", f"jkit.gateway={net}.1/24", f"ip4.addr={net}.10"])
        run([JEXEC, "jkh", "/usr/sbin/nginx", "-c", f"{SITE}/nginx.conf"])
        return f"{net}.10"

    def http_down(self):
        run([JMK, "-r", "jkh"], check=False)

    def cleanup(self):
        run([JMK, "stop", "jkp"], check=False)
        run([JMK, "-r", "jkt"], check=False)


class Oci:
    def __init__(self, tool, seccomp=None, label=None):
        self.tool, self.name = tool, label or tool
        self.seccomp = seccomp

    def setup(self):
        self.sleep = bundle(f"{self.name}-sleep", ["sleep", "infinity"], self.seccomp)
        self.true_ = bundle(f"{self.name}-true", ["/bin/true"], self.seccomp)

    def true(self):
        return timed([self.tool, "run", "--bundle", self.true_, f"jkp-{self.name}-t"])

    def start(self):
        return timed([self.tool, "run", "-d", "--bundle", self.sleep, f"jkp-{self.name}-s"])

    def stop(self):
        return timed([self.tool, "delete", "-f", f"jkp-{self.name}-s"])

    def up(self, i):
        run([self.tool, "run", "-d", "--bundle", self.sleep, f"jkp-{self.name}-{i}"])

    def down(self, i):
        run([self.tool, "delete", "-f", f"jkp-{self.name}-{i}"], check=False)

    def exec(self, argv, out=False):
        return run([self.tool, "exec", f"jkp-{self.name}-0"] + argv, out=out)

    def list(self):
        return [self.tool, "list"]

    def leader(self, i):
        st = json.loads(run([self.tool, "state", f"jkp-{self.name}-{i}"], out=True))
        return st["pid"], []

    def http_up(self):
        """No bridge of its own: a network namespace the script makes as
        CNI's bridge plugin would (veth on a bridge, address, route), named
        in the bundle."""
        net = NET["oci"]
        if not os.path.exists(f"/sys/class/net/{BRIDGE['oci']}"):
            bridge(BRIDGE["oci"], net)
        ns, addr = f"jkph-{self.tool}", f"{net}.{OCI_HOST[self.tool]}"
        netns_on_bridge(ns, f"jkpv{self.tool}", BRIDGE["oci"], addr, f"{net}.1")
        b = bundle(f"{self.name}-http", ["/usr/sbin/nginx", "-c", f"{SITE}/nginx-fg.conf"],
                   netns=f"/run/netns/{ns}")
        run([self.tool, "run", "-d", "--bundle", b, f"jkph-{self.name}"])
        return addr

    def http_down(self):
        run([self.tool, "delete", "-f", f"jkph-{self.name}"], check=False)
        run(["ip", "netns", "del", f"jkph-{self.tool}"], check=False)

    def cleanup(self):
        for n in ("t", "s"):
            run([self.tool, "delete", "-f", f"jkp-{self.name}-{n}"], check=False)


class Lxc:
    name = "LXC"

    def setup(self):
        os.makedirs(LXCPATH, exist_ok=True)
        base = (f"lxc.rootfs.path = dir:{ROOT}\nlxc.rootfs.options = ro\n"
                "lxc.uts.name = peer\n"
                "lxc.apparmor.profile = unconfined\nlxc.autodev = 1\n"
                "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n"
                "lxc.include = /usr/share/lxc/config/common.conf\n")
        for kind, cmd in (("sleep", "/bin/sleep infinity"), ("true", "/bin/true")):
            with open(f"{LXCPATH}/{kind}.conf", "w") as f:
                f.write(base + f"lxc.net.0.type = empty\nlxc.init.cmd = {cmd}\n")
        # LXC's own veth on a bridge the script makes, a static address.
        net = NET["LXC"]
        with open(f"{LXCPATH}/http.conf", "w") as f:
            f.write(base + "lxc.net.0.type = veth\n"
                    f"lxc.net.0.link = {BRIDGE['LXC']}\nlxc.net.0.veth.pair = jkpvlxc\n"
                    "lxc.net.0.flags = up\n"
                    f"lxc.net.0.ipv4.address = {net}.10/24\nlxc.net.0.ipv4.gateway = {net}.1\n"
                    "lxc.mount.entry = tmpfs tmp tmpfs rw,nosuid,nodev 0 0\n"
                    f"lxc.init.cmd = /usr/sbin/nginx -c {SITE}/nginx-fg.conf\n")

    def lxc(self, verb, name, *rest):
        return [f"lxc-{verb}", "-P", LXCPATH, "-n", name] + list(rest)

    def true(self):
        return timed(self.lxc("start", "jkp-t", "-f", f"{LXCPATH}/true.conf", "-F"))

    def start(self):
        return timed(self.lxc("start", "jkp-s", "-f", f"{LXCPATH}/sleep.conf", "-d"))

    def stop(self):
        return timed(self.lxc("stop", "jkp-s", "-k"))

    def up(self, i):
        run(self.lxc("start", f"jkp-{i}", "-f", f"{LXCPATH}/sleep.conf", "-d"))

    def down(self, i):
        run(self.lxc("stop", f"jkp-{i}", "-k"), check=False)

    def exec(self, argv, out=False):
        return run(self.lxc("attach", "jkp-0", "--") + argv, out=out)

    def list(self):
        return ["lxc-ls", "-P", LXCPATH, "--active"]

    def leader(self, i):
        pid = int(run(self.lxc("info", f"jkp-{i}", "-p", "-H"), out=True))
        monitor = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        return pid, [monitor]

    def http_up(self):
        bridge(BRIDGE["LXC"], NET["LXC"])
        run(self.lxc("start", "jkph", "-f", f"{LXCPATH}/http.conf", "-d"))
        return f"{NET['LXC']}.10"

    def http_down(self):
        run(self.lxc("stop", "jkph", "-k"), check=False)

    def cleanup(self):
        for n in ("jkp-s", "jkp-t"):
            run(self.lxc("stop", n, "-k"), check=False)


class Podman:
    name = "podman"

    def setup(self):
        pass

    def true(self):
        return timed(PODMAN + ["run", "--rm"] + PODMAN_OPTS + ["--rootfs", ROOT, "/bin/true"])

    def start(self):
        return timed(PODMAN + ["run", "-d", "--name", "jkp-s"] + PODMAN_OPTS
                     + ["--rootfs", ROOT, "sleep", "infinity"])

    def stop(self):
        return timed(PODMAN + ["rm", "-f", "-t", "0", "jkp-s"])

    def up(self, i):
        run(PODMAN + ["run", "-d", "--name", f"jkp-{i}"] + PODMAN_OPTS
            + ["--rootfs", ROOT, "sleep", "infinity"])

    def down(self, i):
        run(PODMAN + ["rm", "-f", "-t", "0", f"jkp-{i}"], check=False)

    def exec(self, argv, out=False):
        return run(PODMAN + ["exec", "jkp-0"] + argv, out=out)

    def list(self):
        return PODMAN + ["ps"]

    def leader(self, i):
        pid, conmon = run(PODMAN + ["inspect", "-f", "{{.State.Pid}} {{.State.ConmonPid}}", f"jkp-{i}"],
                          out=True).split()
        return int(pid), [int(conmon)]

    def http_up(self):
        """A podman network (its bridge, address and firewall rules made by
        podman's network backend), the container on it at a fixed address,
        read-only with podman's tmpfs /tmp."""
        net = NET["podman"]
        with open(NFT_BEFORE, "w") as f:
            f.write("\n".join(sorted(nft_tables())) + "\n")
        try:
            run(PODMAN + ["network", "create", "--disable-dns", "--subnet", f"{net}.0/24",
                          "--gateway", f"{net}.1", PODMAN_NET])
        except RuntimeError as e:
            # podman refuses a subnet inside a route of the host's, such as
            # jkit's default bridge jkit0 holding 10.213.0.0/16: the same
            # definition written to its network directory, which podman
            # reads without that check.
            if "already used on the host" not in str(e):
                raise
            print(f"podman network create: {str(e).rsplit('Error: ', 1)[-1]}; writing "
                  f"{PODMAN_NETDIR}/{PODMAN_NET}.json", file=sys.stderr)
            with open(f"{PODMAN_NETDIR}/{PODMAN_NET}.json", "w") as f:
                json.dump({"name": PODMAN_NET, "id": hashlib.sha256(PODMAN_NET.encode()).hexdigest(),
                           "driver": "bridge", "network_interface": "jkppod0",
                           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "subnets": [{"subnet": f"{net}.0/24", "gateway": f"{net}.1"}],
                           "ipv6_enabled": False, "internal": False, "dns_enabled": False,
                           "ipam_options": {"driver": "host-local"}}, f)
        cid = run(PODMAN + ["run", "-d", "--name", "jkph", "--network", PODMAN_NET,
                            "--ip", f"{net}.10", "--read-only", "--ulimit", "nofile=1024:4096",
                            "--ulimit", "nproc=1024:4096", "--rootfs", ROOT,
                            "/usr/sbin/nginx", "-c", f"{SITE}/nginx-fg.conf"], out=True).strip()
        with open(PODMAN_ID, "w") as f:
            f.write(cid)
        return f"{net}.10"

    def http_down(self):
        run(PODMAN + ["rm", "-f", "-t", "0", "jkph"], check=False)
        run(PODMAN + ["network", "rm", "-f", PODMAN_NET], check=False)

    def cleanup(self):
        for n in ("jkp-s", "jkp-t"):
            run(PODMAN + ["rm", "-f", "-t", "0", n], check=False)


class Detached:
    """nspawn and bwrap: a foreground process per environment."""

    def __init__(self, name, cmd):
        self.name, self.cmd, self.procs = name, cmd, {}

    def setup(self):
        pass

    def true(self):
        return timed(self.cmd + ["/bin/true"])

    def up(self, i):
        p = subprocess.Popen(self.cmd + ["/bin/sleep", "infinity"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[i] = p
        wait_for(lambda: any(open(f"/proc/{d}/comm").read().strip() == "sleep"
                             for d in descendants(p.pid) if os.path.exists(f"/proc/{d}/comm")),
                 f"{self.name} {i}")

    def sleeper(self, i):
        return descendant_named(self.procs[i].pid, "sleep")

    def down(self, i):
        p = self.procs.pop(i, None)
        if p:
            for d in descendants(p.pid):
                try:
                    os.kill(d, signal.SIGKILL)
                except OSError:
                    pass
            p.kill()
            p.wait()

    def exec(self, argv, out=False):
        return run(["nsenter", "-t", str(self.sleeper(0)), "-a"] + argv, out=out)

    def leader(self, i):
        p = self.procs[i].pid
        return self.sleeper(i), [p] + [d for d in descendants(p) if pid_ns(d) == pid_ns(p)]

    def http_up(self):
        """(nspawn; bwrap has no bridge.) nspawn's own veth (vb-MACHINE) on a bridge the script makes; the
        address inside (host0) set from the host through nsenter, as the
        root has no ip(8) and no networkd."""
        net = NET["nspawn"]
        bridge(BRIDGE["nspawn"], net)
        cmd = self.cmd + ["-M", NSPAWN_MACHINE, f"--network-bridge={BRIDGE['nspawn']}",
                          "--tmpfs=/tmp", "/usr/sbin/nginx", "-c", f"{SITE}/nginx-fg.conf"]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs["h"] = p

        pid = wait_for(lambda: descendant_named(p.pid, "nginx"), "nginx in nspawn")
        into = ["nsenter", "-t", str(pid), "-n", "ip"]
        run(into + ["link", "set", "lo", "up"])
        run(into + ["addr", "add", f"{net}.10/24", "dev", "host0"])
        run(into + ["link", "set", "host0", "up"])
        run(into + ["route", "add", "default", "via", f"{net}.1"])
        return f"{net}.10"

    def http_down(self):
        self.down("h")

    def cleanup(self):
        for i in list(self.procs):
            self.down(i)


SYSCALL_ROUNDS = int(os.environ.get("PEERS_SYSCALL_ROUNDS", 11))


def measure_http(tools, rounds, secs, failed):
    """Requests/s of wrk on the host against nginx in each environment,
    through its tool's bridge, and against the host's own nginx (the
    root's binary, chrooted, on loopback); interleaved rounds. Returns
    {target: [requests/s per round]}."""
    write_site()
    run(["chroot", ROOT, "/usr/sbin/nginx", "-c", f"{SITE}/nginx-host.conf"])
    targets = [("host", f"http://{HOST_HTTP}/1k.html")]
    up = []
    try:
        for t in tools:
            if t.name == "bwrap":  # --unshare-all: a loopback, no bridge
                continue
            try:
                up.append(t)
                url = f"http://{t.http_up()}:{HTTP_PORT}/1k.html"
                wait_for(lambda: serves(url), f"{url} from {t.name}")
                targets.append((t.name, url))
            except Exception as e:  # noqa: BLE001 - a tool that fails is left out
                failed[f"{t.name} (HTTP)"] = str(e)
        wait_for(lambda: serves(targets[0][1]), "the host's nginx")
        print(f"HTTP: {', '.join(f'{n} {u}' for n, u in targets)}", file=sys.stderr)
        rps = {}
        for r in range(rounds):
            for name, url in targets[r % len(targets):] + targets[:r % len(targets)]:
                try:
                    rps.setdefault(name, []).append(wrk(url, secs))
                except RuntimeError as e:
                    failed[f"{name} (HTTP)"] = str(e)
            targets = [(n, u) for n, u in targets if f"{n} (HTTP)" not in failed]
        return {n: rps[n] for n, _ in targets}
    finally:
        for t in up:
            t.http_down()
        net_cleanup()


def median(xs):
    return statistics.median(xs) if xs else None


def main_run(rounds, n):
    only_http = os.environ.get("PEERS_ONLY") == "http"
    only_memory = os.environ.get("PEERS_ONLY") == "memory"
    http_rounds = int(os.environ.get("PEERS_HTTP_ROUNDS", 5))
    http_secs = int(os.environ.get("PEERS_HTTP_SECS", 4))
    tools = [Jkit(), Oci("crun"), Oci("runc"), Lxc(), Podman(),
             Detached("nspawn", NSPAWN), Detached("bwrap", BWRAP)]
    failed = {}
    for t in tools:
        try:
            t.setup()
        except Exception as e:  # noqa: BLE001 - a tool that fails is left out
            failed[t.name] = str(e)
    tools = [t for t in tools if t.name not in failed]
    up = {t.name: 0 for t in tools}
    times = {}  # (measure, tool) -> [seconds per round]

    def note(measure, tool, secs):
        times.setdefault((measure, tool), []).append(secs)

    if only_http:
        rps = measure_http(tools, http_rounds, http_secs, failed)
        report(tools, {}, {}, {}, [], rps, failed, http_rounds, n, http_secs)
        return
    if only_memory:
        try:
            memory = host_memory_passes(tools, n, up, failed)
            tools = [t for t in tools if t.name not in failed]
            cells = kb_cells([t.name for t in tools],
                             {t.name: statistics.mean(memory[t.name]) for t in tools})
            print(f"| {host_memory_label(n)} | " + " | ".join(cells) + " |")
        finally:
            for t in tools:
                for i in range(up.get(t.name, 0)):
                    t.down(i)
                t.cleanup()
        return
    try:
        print(f"starting {n} idle environments of each tool", file=sys.stderr)
        # The host's memory per environment, in two passes of its own
        # (the tools in reverse order, then in order), each tool starting
        # its N and stopping them before the next: one that started its
        # environments beside the others' would do so on a fuller kernel
        # (slabs, hash tables).
        host_memory = host_memory_passes(tools, n, up, failed)
        tools = [t for t in tools if t.name not in failed]
        for t in tools:
            try:
                for i in range(n):
                    t.up(i)
                    up[t.name] = i + 1
            except Exception as e:  # noqa: BLE001
                failed[t.name] = f"environment {up[t.name]}: {e}"
        tools = [t for t in tools if t.name not in failed]
        for r in range(rounds):
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            for t in order:
                try:
                    note("true", t.name, t.true())
                    if hasattr(t, "start"):
                        s = t.start()
                        e = t.stop()
                        note("start+stop", t.name, s + e)
                        note("stop", t.name, e)
                    if t.name != "bwrap":
                        t0 = time.perf_counter()
                        t.exec(["true"])
                        note("exec", t.name, time.perf_counter() - t0)
                    if hasattr(t, "list"):
                        note(f"list ({n} running)", t.name, timed(t.list()))
                except Exception as e:  # noqa: BLE001
                    failed[t.name] = str(e)
            tools = [t for t in tools if t.name not in failed]
        memory = {}
        for t in tools:
            pss, kmem = [], []
            for i in range(n):
                leader, helpers = t.leader(i)
                pss.append(pss_kb(processes_in(leader) + helpers))
                kmem.append(kmem_kb(leader))
            memory[t.name] = (statistics.mean(pss),
                              statistics.mean(kmem) if None not in kmem else None,
                              statistics.mean(host_memory[t.name]))
        calls, targets = measure_syscalls(tools)
        rps = measure_http(tools, http_rounds, http_secs, failed)
        report(tools, times, memory, calls, targets, rps, failed, rounds, n, http_secs)
    finally:
        for t in tools:
            for i in range(up.get(t.name, 0)):
                t.down(i)
            t.cleanup()


def measure_syscalls(tools):
    """System calls: the host, then every tool's running environment 0
    (and podman's profile under crun, and a jail whose filter looks into
    ioctl), interleaved; ns per call by (call, target), and the targets."""
    prof = Oci("crun", podman_profile(), "podman-profile")
    prof.setup()
    prof.up(0)
    try:
        targets = [("host", lambda: run([f"{ROOT}{SYSCALLS}"], out=True))]
        for t in tools:
            if isinstance(t, Detached):
                targets.append((t.name, lambda t=t: run(t.cmd + [SYSCALLS], out=True)))
            else:
                targets.append((t.name, lambda t=t: t.exec([SYSCALLS], out=True)))
        targets.append(("podman profile (crun)", lambda: prof.exec([SYSCALLS], out=True)))
        # The filter that looks into ioctl: a jail with the host's
        # CAP_SYS_ADMIN gets it (what every jail had before).
        run([JMK, "-c", "name=jka", f"path={ROOT}", "mount.devfs", "persist",
             "jkit.userns=0", "allow.mount"])
        targets.append(("jkit, ioctl inspected", lambda: run([JEXEC, "jka", SYSCALLS], out=True)))
        calls = {}
        for r in range(SYSCALL_ROUNDS):
            for name, go in targets[r % len(targets):] + targets[:r % len(targets)]:
                for line in go().splitlines():
                    call, ns = line.split()
                    calls.setdefault((call, name), []).append(float(ns))
        return calls, [n for n, _ in targets]
    finally:
        prof.down(0)
        run([JMK, "-r", "jka"], check=False)


def main_syscalls():
    """The system-call rows alone: jkit and podman's profile (under crun)."""
    jkit = Jkit()
    jkit.setup()
    try:
        jkit.up(0)
        calls, targets = measure_syscalls([jkit])
        syscall_table(calls, targets)
    finally:
        jkit.down(0)
        jkit.cleanup()


def syscall_table(calls, targets):
    print(f"\nSystem calls, medians of {SYSCALL_ROUNDS} interleaved rounds, overhead"
          " against the host (median of the per-round ratios):\n")
    print("| | " + " | ".join(targets) + " |")
    print("|---|" + "---:|" * len(targets))
    for call in ["getppid", "read+write", "ioctl", "clone"]:
        cells = []
        for name in targets:
            xs, host = calls[(call, name)], calls[(call, "host")]
            over = median([x / h - 1 for x, h in zip(xs, host)]) * 100
            cells.append(f"{median(xs):.0f} ns" + ("" if name == "host" else f" ({over:+.1f}%)"))
        print(f"| {call} | " + " | ".join(cells) + " |")


def ratio_cells(names, series, base, own):
    """A table row's cells: jkit's figures as `own` prints them, each
    peer's as the median of its per-round ratios to jkit's, n/a where a
    tool has none."""
    cells = []
    for name in names:
        xs = series(name)
        if not xs:
            cells.append("n/a")
        elif name == "jkit":
            cells.append(own(xs))
        else:
            cells.append(f"{median([x / b for x, b in zip(xs, base)]):.2f}x")
    return cells


def host_memory_label(n):
    return f"host's memory per environment (/proc/meminfo, {n} started)"


def kb_cells(names, values):
    """A row's cells for the figures in kB `values` (by tool name): jkit's
    own, each peer's as a ratio to it, n/a where there is none."""
    base = values["jkit"]
    return ["n/a" if values[name] is None
            else f"{values[name]:.0f} kB" if name == "jkit"
            else f"{values[name] / base:.2f}x"
            for name in names]


def report(tools, times, memory, calls, targets, rps, failed, rounds, n, http_secs):
    names = [t.name for t in tools]
    http_rounds = max((len(xs) for xs in rps.values()), default=0)
    over = f"{rounds} rounds ({http_rounds} for HTTP)" if times else f"{http_rounds} rounds"
    print(f"\nMedians over {over}; each peer as a ratio to jkit (median of the per-round "
          "ratios), jkit's own figure in its column.\n")
    print("| measurement | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for m in ["true", "start+stop", "stop", "exec", f"list ({n} running)"]:
        base = times.get((m, "jkit"))
        if not base:
            continue
        cells = ratio_cells(names, lambda name: times.get((m, name)), base,
                            lambda xs: f"{median(xs) * 1000:.1f} ms")
        label = "exec (nspawn: nsenter)" if m == "exec" else m
        print(f"| {label} | " + " | ".join(cells) + " |")
    for what, pick in (() if not memory else (
            ("memory per idle environment: Pss", lambda v: v[0]),
            ("+ kernel memory of its cgroup", lambda v: v[1]),
            ("= total", lambda v: None if v[1] is None else v[0] + v[1]),
            (host_memory_label(n), lambda v: v[2]))):
        cells = kb_cells(names, {name: pick(memory[name]) for name in names})
        print(f"| {what} | " + " | ".join(cells) + " |")
    if rps.get("jkit"):
        base = rps["jkit"]
        cells = ratio_cells(names, rps.get, base, lambda xs: f"{median(xs):.0f}/s")
        host = "" if "host" not in rps else (
            f" (host loopback {median(rps['host']):.0f}/s, jkit/host "
            f"{median([j / h for j, h in zip(base, rps['host'])]):.2f})")
        print(f"| HTTP requests/s, wrk -t2 -c64 -d{http_secs}s{host} | " + " | ".join(cells) + " |")
    for call in ["getppid", "read+write", "ioctl", "clone"] if calls else []:
        host = calls[(call, "host")]
        cells = []
        for name in names:
            xs = calls.get((call, name))
            over = None if not xs else median([x / h - 1 for x, h in zip(xs, host)]) * 100
            cells.append("n/a" if over is None else f"{over:+.1f}%")
        print(f"| syscall overhead: {call} (host {median(host):.0f} ns) | " + " | ".join(cells) + " |")
    if rps:
        print("\nHTTP requests/s per round:\n")
        print("| round | " + " | ".join(rps) + " |")
        print("|---|" + "---:|" * len(rps))
        for r in range(http_rounds):
            print(f"| {r + 1} | " + " | ".join(
                f"{xs[r]:.0f}" if r < len(xs) else "" for xs in rps.values()) + " |")
    if calls:
        syscall_table(calls, targets)
    for name, why in failed.items():
        print(f"left out: {name}: {why}")


def main_cleanup():
    """Whatever a run that was killed left: its jails, containers and
    environments (all named jk*, jkp-*, jkph*)."""
    jails = f"{os.environ['JKIT_RUN_DIR']}/jails"
    for j in os.listdir(jails) if os.path.isdir(jails) else []:
        run([JMK, "-r", j], check=False)
    for tool in ("crun", "runc"):
        for line in run([tool, "list", "-q"], check=False, out=True).split():
            if line.startswith(("jkp-", "jkph-")):
                run([tool, "delete", "-f", line], check=False)
    if os.path.isdir(LXCPATH):
        for name in run(["lxc-ls", "-P", LXCPATH, "--active"], check=False, out=True).split():
            run(["lxc-stop", "-P", LXCPATH, "-n", name, "-k"], check=False)
    for name in run(PODMAN + ["ps", "-a", "--format", "{{.Names}}"], check=False, out=True).split():
        if name.startswith("jkp-") or name == "jkph":
            run(PODMAN + ["rm", "-f", "-t", "0", name], check=False)
    net_cleanup()


if sys.argv[1] == "run":
    main_run(int(sys.argv[5]), int(sys.argv[6]))
elif sys.argv[1] == "syscalls":
    main_syscalls()
else:
    main_cleanup()
