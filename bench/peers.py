"""The measurements of bench/peers.sh (which installs the tools, builds the
root and says what each figure is): `peers.py run W ROOT BIN ROUNDS N`,
`peers.py syscalls W ROOT BIN` for the system-call rows alone, and
`peers.py cleanup W ROOT BIN` for whatever a run left behind."""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

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


def bundle(name, args, seccomp=None):
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


def wait_for(pred, what, secs=20):
    end = time.time() + secs
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


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

    def cleanup(self):
        for n in ("t", "s"):
            run([self.tool, "delete", "-f", f"jkp-{self.name}-{n}"], check=False)


class Lxc:
    name = "LXC"

    def setup(self):
        os.makedirs(LXCPATH, exist_ok=True)
        base = (f"lxc.rootfs.path = dir:{ROOT}\nlxc.rootfs.options = ro\n"
                "lxc.uts.name = peer\nlxc.net.0.type = empty\n"
                "lxc.apparmor.profile = unconfined\nlxc.autodev = 1\n"
                "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed\n"
                "lxc.include = /usr/share/lxc/config/common.conf\n")
        for kind, cmd in (("sleep", "/bin/sleep infinity"), ("true", "/bin/true")):
            with open(f"{LXCPATH}/{kind}.conf", "w") as f:
                f.write(base + f"lxc.init.cmd = {cmd}\n")

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
        for d in descendants(self.procs[i].pid):
            try:
                if open(f"/proc/{d}/comm").read().strip() == "sleep":
                    return d
            except OSError:
                pass
        return None

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

    def cleanup(self):
        for i in list(self.procs):
            self.down(i)


SYSCALL_ROUNDS = 11


def median(xs):
    return statistics.median(xs) if xs else None


def main_run(rounds, n):
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

    try:
        print(f"starting {n} idle environments of each tool", file=sys.stderr)
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
                              statistics.mean(kmem) if None not in kmem else None)
        calls, targets = measure_syscalls(tools)
        report(tools, times, memory, calls, targets, failed, rounds, n)
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


def report(tools, times, memory, calls, targets, failed, rounds, n):
    names = [t.name for t in tools]
    print(f"\nMedians over {rounds} rounds; each peer as a ratio to jkit (median of "
          "the per-round ratios), jkit's own figure in its column.\n")
    print("| measurement | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for m in ["true", "start+stop", "stop", "exec", f"list ({n} running)"]:
        base = times.get((m, "jkit"))
        if not base:
            continue
        cells = []
        for name in names:
            xs = times.get((m, name))
            if not xs:
                cells.append("n/a")
            elif name == "jkit":
                cells.append(f"{median(xs) * 1000:.1f} ms")
            else:
                cells.append(f"{median([x / b for x, b in zip(xs, base)]):.2f}x")
        label = "exec (nspawn: nsenter)" if m == "exec" else m
        print(f"| {label} | " + " | ".join(cells) + " |")
    for what, pick in (("memory per idle environment: Pss", lambda v: v[0]),
                       ("+ kernel memory of its cgroup", lambda v: v[1]),
                       ("= total", lambda v: None if v[1] is None else v[0] + v[1])):
        base = pick(memory["jkit"])
        cells = []
        for name in names:
            v = pick(memory[name])
            if v is None:
                cells.append("n/a")
            elif name == "jkit":
                cells.append(f"{v:.0f} kB")
            else:
                cells.append(f"{v / base:.2f}x")
        print(f"| {what} | " + " | ".join(cells) + " |")
    for call in ["getppid", "read+write", "ioctl", "clone"]:
        host = calls[(call, "host")]
        cells = []
        for name in names:
            xs = calls.get((call, name))
            over = None if not xs else median([x / h - 1 for x, h in zip(xs, host)]) * 100
            cells.append("n/a" if over is None else f"{over:+.1f}%")
        print(f"| syscall overhead: {call} (host {median(host):.0f} ns) | " + " | ".join(cells) + " |")
    syscall_table(calls, targets)
    for name, why in failed.items():
        print(f"left out: {name}: {why}")


def main_cleanup():
    """Whatever a run that was killed left: its jails, containers and
    environments (all named jk*/jkp-*)."""
    jails = f"{os.environ['JKIT_RUN_DIR']}/jails"
    for j in os.listdir(jails) if os.path.isdir(jails) else []:
        run([JMK, "-r", j], check=False)
    for tool in ("crun", "runc"):
        for line in run([tool, "list", "-q"], check=False, out=True).split():
            if line.startswith("jkp-"):
                run([tool, "delete", "-f", line], check=False)
    if os.path.isdir(LXCPATH):
        for name in run(["lxc-ls", "-P", LXCPATH, "--active"], check=False, out=True).split():
            run(["lxc-stop", "-P", LXCPATH, "-n", name, "-k"], check=False)
    for name in run(PODMAN + ["ps", "-a", "--format", "{{.Names}}"], check=False, out=True).split():
        if name.startswith("jkp-"):
            run(PODMAN + ["rm", "-f", "-t", "0", name], check=False)


if sys.argv[1] == "run":
    main_run(int(sys.argv[5]), int(sys.argv[6]))
elif sys.argv[1] == "syscalls":
    main_syscalls()
else:
    main_cleanup()
