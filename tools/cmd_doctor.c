/* SPDX-License-Identifier: MIT */
/*
 * dmakit doctor: what this machine offers a dmakit driver, the first thing
 * to run on a new one. One fact a line, "KEY: VALUE -- MEANING" (doctor.h):
 * the kernel and the user; the IOMMU, VFIO, iommufd, uio_pci_generic and
 * every PCI device (doctor_devices.c); what the phys space will find
 * (doctor_memory.c); the daemon's routes for this user. Something missing
 * is a fact like any other: the exit status is 0 unless the options are
 * wrong (2). Nothing is changed: no binding, no module loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/capability.h>

#include "cmd.h"
#include "dmakit_version.h"
#include "doctor.h"
#include "opts.h"

#define PROG "dmakit doctor"

/* Effective capability @cap of this process, from /proc/self/status. */
static bool has_cap(int cap)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "re");
	bool found = false;

	if (!f)
		return geteuid() == 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &eff) == 1;
	fclose(f);
	return found ? (eff >> cap) & 1 : geteuid() == 0;
}

static void kernel(void)
{
	struct utsname u;

	if (uname(&u)) {
		doc_fact("kernel", "unknown", "uname failed");
		return;
	}
	doc_fact("kernel", u.release, "Linux %s on %s; what dmakit needs of it is probed below, not "
		 "inferred from the version", u.version, u.machine);
}

static void user(struct doc_who *who)
{
	char v[64];

	who->uid = getuid();
	who->euid = geteuid();
	who->cap_sys_admin = has_cap(CAP_SYS_ADMIN);
	who->cap_ipc_lock = has_cap(CAP_IPC_LOCK);
	snprintf(v, sizeof(v), "uid %u euid %u", (unsigned)who->uid, (unsigned)who->euid);
	doc_fact("user", v, "%s; CAP_SYS_ADMIN %s, CAP_IPC_LOCK %s",
		 who->euid ? "not root" : "root", who->cap_sys_admin ? "yes" : "no",
		 who->cap_ipc_lock ? "yes" : "no");
}

/*
 * The daemon's routes for a client of this uid (src/ipc/daemon_region.c:
 * the lease only to uid 0 and the daemon's own uid; daemon_io.c: the copy
 * route through the client's /proc/PID/mem, daemon_peer.c: ptrace access).
 */
static void routes(const struct doc_who *who, const char *socket_path)
{
	char scope[16] = "", v[64];
	struct stat st;
	bool have_daemon = !stat(socket_path, &st) && S_ISSOCK(st.st_mode);

	if (have_daemon) {
		snprintf(v, sizeof(v), "socket uid %u mode %04o", (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		doc_fact("dmakitd", v, "%s is a socket; its owner is the uid a daemon that made it "
			 "runs as", socket_path);
	} else {
		doc_fact("dmakitd", "no socket", "nothing at %s (dmakitd --socket PATH; doctor "
			 "--socket PATH)", socket_path);
	}
	doc_fact("memfd route", "any user", "the application shares a memfd, the daemon maps it: "
		 "zero copy");
	doc_fact("pool route", "any user", "the daemon's registered memory, mapped into the "
		 "application: zero copy");
	doc_read_line("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope));
	if (!strcmp(scope, "3"))
		doc_fact("copy route", "unavailable", "Yama ptrace_scope 3: no process may read "
			 "another's memory (/proc/PID/mem)");
	else if (!strcmp(scope, "2"))
		doc_fact("copy route", "root daemon only", "Yama ptrace_scope 2: opening a client's "
			 "/proc/PID/mem needs the daemon to have CAP_SYS_PTRACE");
	else
		doc_fact("copy route", "any user", "through a daemon buffer and the client's "
			 "/proc/PID/mem: a root daemon copies for anyone, another for its own uid%s",
			 !strcmp(scope, "1") ? " (Yama ptrace_scope 1: the client library allows the "
			 "daemon with PR_SET_PTRACER)" : "");
	if (!who->euid)
		snprintf(v, sizeof(v), "granted (root)");
	else if (have_daemon && st.st_uid == who->euid)
		snprintf(v, sizeof(v), "granted (the daemon's uid)");
	else if (have_daemon)
		snprintf(v, sizeof(v), "refused (daemon uid %u)", (unsigned)st.st_uid);
	else
		snprintf(v, sizeof(v), "needs the daemon's uid");
	doc_fact("lease route", v, "the application maps its own buffer in an IOVA window of the "
		 "daemon's VFIO container: only for root and the daemon's own uid (the container "
		 "can unmap anyone's memory)%s", who->vfio_type1 ? "" : "; and no VFIO type1 here");
}

int cmd_doctor(int argc, char **argv)
{
	const char *socket_path = "/run/dmakitd.sock";
	const struct opt_def defs[] = {
		{ .name = "socket", .type = OPT_STR, OPT_TO(socket_path), .arg = "PATH",
		  .help = "the daemon's socket, whose owner is the daemon's uid" },
	};
	const struct opt_tool tool = {
		PROG, "[options]",
		"Report what this machine offers dmakit, one fact a line,\n"
		"\"KEY: VALUE -- MEANING\": the kernel, the user, the IOMMU and its groups,\n"
		"VFIO type1, vfio-pci, iommufd, VFIO no-IOMMU and uio_pci_generic\n"
		"(available, not loaded or missing), every PCI device (IDs, class, driver,\n"
		"IOMMU group), RLIMIT_MEMLOCK, pagemap, MADV_POPULATE_WRITE, io_uring, the\n"
		"phys space's pin method, the huge page pools, THP and the daemon's routes\n"
		"for this user. Each KEY comes once but \"pci\", one line a device, its BDF\n"
		"first. Only reads and asks: nothing is bound or loaded.",
		"Exit status: 0, whatever is missing; 2 for bad options.",
		defs, OPT_COUNT(defs),
	};
	struct doc_who who = { 0 };
	int first = opt_parse(&tool, argc, argv);

	if (first < argc)
		opt_usage_error(PROG, "unexpected argument '%s'", argv[first]);

	doc_fact("dmakit", DMK_VERSION, "the library and tools this report is for");
	kernel();
	user(&who);
	doc_devices(&who);
	doc_memory(&who);
	routes(&who, socket_path);
	fflush(stdout);
	return 0;
}
