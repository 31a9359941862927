#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dmakit doctor on the host, against the machine's own facts read here.

usage: test_doctor.py DMAKIT VERSION

Runs `DMAKIT doctor` as root (with RLIMIT_MEMLOCK set here) and, through
setpriv, as uid 65534, and compares each line with what this script finds
by itself: uname, sysfs, /dev, the huge page pools, THP, a pagemap entry of
a page written here, io_uring_setup, the sparse buffer registration and
MADV_POPULATE_WRITE tried here with ctypes. Exit 0 when all agree, 77 when
not root (the pagemap and uid checks need it).
"""
import ctypes
import mmap
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile

LINE = re.compile(r"^([^:]+): (.+?) -- (.+)$")
NOBODY = 65534
failures = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(tool, args, memlock=None, uid=None, env=None):
    """(rc, stdout, stderr) of `tool doctor args`."""
    def pre():
        if memlock is not None:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, memlock)
    cmd = [tool, "doctor"] + args
    if uid is not None:
        cmd = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
               "--inh-caps=-all"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pre,
                       env=dict(os.environ, **(env or {})), timeout=60)
    return p.returncode, p.stdout, p.stderr


def facts(out, label):
    """{key: (value, meaning)}; every line must be KEY: VALUE -- MEANING, each
    key once but "pci", one a device, keyed here "pci BDF" by VALUE's first word."""
    d = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            check(False, f"{label}: line not KEY: VALUE -- MEANING: {line!r}")
            continue
        key, val = m.group(1), m.group(2)
        if key == "pci":
            bdf, _, val = val.partition(" ")
            key = "pci " + bdf
        if key in d:
            check(False, f"{label}: key {key!r} twice")
        d[key] = (val, m.group(3))
    return d


def value(d, key):
    return d.get(key, ("(no such line)", ""))[0]


def expect(d, key, want, label):
    got = value(d, key)
    check(got == want, f"{label}: {key}: {got!r}, expected {want!r}")


def sysfs(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def link_name(path):
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR_IO_URING_SETUP, NR_IO_URING_REGISTER = 425, 427


def io_uring_setup():
    params = ctypes.create_string_buffer(120)    # struct io_uring_params
    return libc.syscall(NR_IO_URING_SETUP, ctypes.c_uint(1), params)


def pin_probe():
    """io_uring_setup + IORING_REGISTER_BUFFERS2 sparse, as src/space/pin.c."""
    fd = io_uring_setup()
    if fd < 0:
        return False
    # struct io_uring_rsrc_register: nr, flags (IORING_RSRC_REGISTER_SPARSE), resv2, data, tags
    reg = (ctypes.c_uint32 * 8)(16384, 1, 0, 0, 0, 0, 0, 0)
    rc = libc.syscall(NR_IO_URING_REGISTER, ctypes.c_int(fd), ctypes.c_uint(15), reg,
                      ctypes.c_uint(32))
    os.close(fd)
    return rc == 0


def page_address(buf):
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def populate_write():
    buf = mmap.mmap(-1, 4096)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    rc = libc.madvise(page_address(buf), 4096, 23)    # MADV_POPULATE_WRITE
    return rc == 0


def pagemap_shows_frames():
    buf = mmap.mmap(-1, 4096)
    buf[0] = 1
    try:
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(page_address(buf) // 4096 * 8)
            e = int.from_bytes(f.read(8), "little")
    except OSError:
        return None
    return bool(e >> 63) and (e & ((1 << 55) - 1)) != 0


def pagemap_shows_frames_as(uid):
    """pagemap_shows_frames() in a child that became @uid (exit 1: shown, 0: hidden)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os._exit(1 if pagemap_shows_frames() else 0)
        finally:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 1


def check_root_run(tool):
    soft, hard = 65536, 131072
    rc, out, err = run(tool, [], memlock=(soft, hard))
    label = "root"
    check(rc == 0, f"{label}: exit status {rc} (stderr {err.strip()!r})")
    d = facts(out, label)
    expect(d, "kernel", os.uname().release, label)
    expect(d, "user", "uid 0 euid 0", label)
    expect(d, "memlock", f"soft {soft} hard {hard}", label)

    units = os.listdir("/sys/class/iommu") if os.path.isdir("/sys/class/iommu") else []
    got = value(d, "iommu")
    check(got.startswith("on (") if units else got == "off",
          f"{label}: iommu: {got!r} with /sys/class/iommu {units}")
    groups = os.listdir("/sys/kernel/iommu_groups") if os.path.isdir("/sys/kernel/iommu_groups") else []
    expect(d, "iommu groups", str(len(groups)), label)

    got = value(d, "vfio type1")
    if not os.path.exists("/dev/vfio/vfio"):
        check(got in ("missing", "not loaded"), f"{label}: vfio type1: {got!r} without /dev/vfio/vfio")
    else:
        check(got in ("available", "not loaded"), f"{label}: vfio type1: {got!r} with /dev/vfio/vfio")
    for key, path in (("vfio-pci", "/sys/bus/pci/drivers/vfio-pci"),
                      ("uio_pci_generic", "/sys/bus/pci/drivers/uio_pci_generic"),
                      ("iommufd", "/dev/iommu")):
        got = value(d, key)
        if os.path.exists(path):
            check(got == "available", f"{label}: {key}: {got!r} with {path}")
        else:
            check(got in ("missing", "not loaded"), f"{label}: {key}: {got!r} without {path}")

    pci = "/sys/bus/pci/devices"
    bdfs = sorted(os.listdir(pci)) if os.path.isdir(pci) else []
    expect(d, "pci devices", str(len(bdfs)) if bdfs else "missing", label)
    for bdf in bdfs:
        ids = sysfs(f"{pci}/{bdf}/vendor")[2:] + ":" + sysfs(f"{pci}/{bdf}/device")[2:]
        cls = "%06x" % int(sysfs(f"{pci}/{bdf}/class"), 16)
        drv = link_name(f"{pci}/{bdf}/driver") or "none"
        grp = link_name(f"{pci}/{bdf}/iommu_group") or "none"
        m = re.match(r"^(\S+) class (\S+) \(.*\) driver (\S+) group (\S+)$", value(d, f"pci {bdf}"))
        check(m is not None and m.groups() == (ids, cls, drv, grp),
              f"{label}: pci {bdf}: {value(d, f'pci {bdf}')!r}, sysfs says {ids} class {cls} "
              f"driver {drv} group {grp}")

    shown = pagemap_shows_frames()
    expect(d, "pagemap", "frames shown" if shown else "frames hidden", label)
    if shown:
        expect(d, "phys space", "usable", label)
    expect(d, "madv_populate_write", "supported" if populate_write() else "unsupported", label)
    fd = io_uring_setup()
    if fd >= 0:
        os.close(fd)
    sysctl = sysfs("/proc/sys/kernel/io_uring_disabled", "0")
    got = value(d, "io_uring")
    check((got == "allowed") == (fd >= 0) and (fd < 0 or sysctl != "2"),
          f"{label}: io_uring: {got!r}, io_uring_setup here gave {fd}, io_uring_disabled={sysctl}")
    expect(d, "pin method", "io_uring" if pin_probe() else "mlock", label)

    hp = "/sys/kernel/mm/hugepages"
    for size in (os.listdir(hp) if os.path.isdir(hp) else []):
        want = f"total {sysfs(f'{hp}/{size}/nr_hugepages')} free {sysfs(f'{hp}/{size}/free_hugepages')}"
        expect(d, "hugepages " + size[len("hugepages-"):], want, label)
    thp = sysfs("/sys/kernel/mm/transparent_hugepage/enabled")
    expect(d, "thp", re.search(r"\[(\w+)\]", thp).group(1) if thp else "missing", label)

    for r in ("memfd route", "pool route"):
        expect(d, r, "any user", label)
    expect(d, "lease route", "granted (root)", label)

    if resource.getrlimit(resource.RLIMIT_MEMLOCK)[1] == resource.RLIM_INFINITY:
        rc, out, _ = run(tool, [], memlock=(resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        expect(facts(out, "root unlimited"), "memlock", "soft unlimited hard unlimited",
               "root unlimited")
    else:
        print("SKIP memlock unlimited: the hard limit here is finite (no CAP_SYS_RESOURCE to raise it)")
    rc, out, _ = run(tool, [], env={"DMK_PHYS_PIN": "mlock"})
    expect(facts(out, "DMK_PHYS_PIN=mlock"), "pin method", "mlock", "DMK_PHYS_PIN=mlock")


def check_nobody_run(tool):
    label = "uid 65534"
    if not shutil.which("setpriv"):
        print("SKIP uid 65534 runs: no setpriv")
        return
    tmp = tempfile.mkdtemp(prefix="dmakit-doctor-")
    try:
        os.chmod(tmp, 0o755)
        nosock = os.path.join(tmp, "none.sock")
        rc, out, err = run(tool, ["--socket", nosock], uid=NOBODY)
        if rc in (126, 127) or "setpriv:" in err:
            print(f"SKIP uid 65534 runs: cannot run the tool as uid 65534 ({err.strip()})")
            return
        check(rc == 0, f"{label}: exit status {rc} (stderr {err.strip()!r})")
        d = facts(out, label)
        expect(d, "user", f"uid {NOBODY} euid {NOBODY}", label)
        shown = pagemap_shows_frames_as(NOBODY)
        expect(d, "pagemap", "frames shown" if shown else "frames hidden", label)
        if not shown:
            expect(d, "phys space", "unusable", label)
        expect(d, "dmakitd", "no socket", label)
        expect(d, "lease route", "needs the daemon's uid", label)
        # A daemon's socket: its owner is the daemon's uid, and the rule follows it.
        for owner, want in ((NOBODY, "granted (the daemon's uid)"), (0, "refused (daemon uid 0)")):
            path = os.path.join(tmp, f"d{owner}.sock")
            s = socket.socket(socket.AF_UNIX)
            s.bind(path)
            os.chown(path, owner, owner)
            os.chmod(path, 0o660)
            rc, out, _ = run(tool, ["--socket", path], uid=NOBODY)
            d = facts(out, f"{label}, socket of uid {owner}")
            expect(d, "dmakitd", f"socket uid {owner} mode 0660", f"{label}, socket of uid {owner}")
            expect(d, "lease route", want, f"{label}, socket of uid {owner}")
            s.close()
    finally:
        shutil.rmtree(tmp)


def check_options(tool, version):
    rc, out, _ = run(tool, ["--help"])
    check(rc == 0 and out.startswith("usage: dmakit doctor"), f"--help: rc {rc}, {out[:40]!r}")
    rc, out, _ = run(tool, ["--version"])
    check(rc == 0 and out.strip() == f"dmakit doctor (dmakit) {version}", f"--version: rc {rc}, {out.strip()!r}")
    for args, word in ((["--bogus"], "--bogus"), (["extra"], "extra"), (["--socket"], "--socket")):
        rc, out, err = run(tool, args)
        check(rc == 2 and word in err and not out, f"{' '.join(args)}: rc {rc}, stderr {err.strip()!r}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid():
        print("SKIP: not root (pagemap frames and another uid need it)")
        return 77
    tool, version = sys.argv[1], sys.argv[2]
    check_options(tool, version)
    check_root_run(tool)
    check_nobody_run(tool)
    print(f"test_doctor: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
