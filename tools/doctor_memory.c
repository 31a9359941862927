/* SPDX-License-Identifier: MIT */
/*
 * dmakit doctor: what the phys space will find. RLIMIT_MEMLOCK; whether
 * pagemap shows frames; MADV_POPULATE_WRITE; io_uring and the pin method
 * (probed as src/space/pin.c does, by trying); whether a phys space can be
 * made; the huge page pools and THP. Each probe on memory of our own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/space.h>

/* The library's own probes: what a phys space made now would decide. */
#include "space/fault.h"
#include "space/pin.h"

#include "doctor.h"
#include "opts.h"

#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_PFN_MASK ((UINT64_C(1) << 55) - 1)

static void memlock(const struct doc_who *who)
{
	struct rlimit rl;
	char v[96], soft[32], hard[32];

	if (getrlimit(RLIMIT_MEMLOCK, &rl)) {
		snprintf(v, sizeof(v), "unknown (%s)", strerror(errno));
		doc_fact("memlock", v, "getrlimit(RLIMIT_MEMLOCK) failed");
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(soft, sizeof(soft), "unlimited");
	else
		snprintf(soft, sizeof(soft), "%llu", (unsigned long long)rl.rlim_cur);
	if (rl.rlim_max == RLIM_INFINITY)
		snprintf(hard, sizeof(hard), "unlimited");
	else
		snprintf(hard, sizeof(hard), "%llu", (unsigned long long)rl.rlim_max);
	snprintf(v, sizeof(v), "soft %s hard %s", soft, hard);
	if (who->cap_ipc_lock)
		doc_fact("memlock", v, "this process has CAP_IPC_LOCK: VFIO mappings, io_uring pins "
			 "and mlock are not held to it");
	else if (rl.rlim_cur == RLIM_INFINITY)
		doc_fact("memlock", v, "no limit on what VFIO mappings, io_uring pins and mlock hold");
	else
		doc_fact("memlock", v, "without CAP_IPC_LOCK, VFIO mappings, io_uring pins and mlock "
			 "hold at most %s (ulimit -l, in KiB, raises it): registrations beyond fail",
			 opt_fmt_size(rl.rlim_cur, soft, sizeof(soft)));
}

/* Does /proc/self/pagemap show the frame of a page we wrote? */
static void pagemap(void)
{
	volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), err = errno;
	uint64_t e = 0;
	char v[64];

	if (fd < 0) {
		snprintf(v, sizeof(v), "%s", err == ENOENT ? "missing" : "no access");
		doc_fact("pagemap", v, "/proc/self/pagemap: %s: no phys space", strerror(err));
	} else if (p == MAP_FAILED) {
		doc_fact("pagemap", "unknown", "no page to probe with (mmap: %s)", strerror(errno));
	} else {
		p[0] = 1;
		if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / 4096 * sizeof(e))) != (ssize_t)sizeof(e))
			doc_fact("pagemap", "unreadable", "reading /proc/self/pagemap: %s", strerror(errno));
		else if (!(e & PM_PRESENT))
			doc_fact("pagemap", "unknown", "a written page reads as not present (entry %#" PRIx64
				 "): an entry format dmakit does not know", e);
		else if (e & PM_PFN_MASK)
			doc_fact("pagemap", "frames shown", "physical addresses are readable here "
				 "(CAP_SYS_ADMIN): what the phys space needs");
		else
			doc_fact("pagemap", "frames hidden", "frames read as 0 without CAP_SYS_ADMIN: "
				 "the phys space needs root");
	}
	if (fd >= 0)
		close(fd);
	if (p != MAP_FAILED)
		munmap((void *)p, 4096);
}

static void populate_write(void)
{
	if (dmki_populate_write_supported())
		doc_fact("madv_populate_write", "supported", "registrations the device may write are "
			 "write-faulted before their pin (Linux 5.14 and later)");
	else
		doc_fact("madv_populate_write", "unsupported", "a kernel before 5.14: phys registrations "
			 "the device may write need the io_uring pin; with mlock alone they are refused");
}

/* Whether io_uring may be used at all (kernel.io_uring_disabled, seccomp). */
static void io_uring(void)
{
	struct io_uring_params params;
	char sysctl[16] = "", why[64];
	int fd, err;

	memset(&params, 0, sizeof(params));
	if (doc_read_line("/proc/sys/kernel/io_uring_disabled", sysctl, sizeof(sysctl)))
		snprintf(why, sizeof(why), "no kernel.io_uring_disabled");
	else
		snprintf(why, sizeof(why), "kernel.io_uring_disabled=%s", sysctl);
	fd = (int)syscall(__NR_io_uring_setup, 1, &params);
	err = errno;
	if (fd >= 0) {
		close(fd);
		doc_fact("io_uring", "allowed", "%s, io_uring_setup works: the phys space can pin "
			 "with registered buffers", why);
	} else {
		doc_fact("io_uring", err == ENOSYS ? "missing" : "disabled", "%s, io_uring_setup: %s: "
			 "the phys space falls back to mlock", why, strerror(err));
	}
}

/* The pin a phys space made now would use: src/space/phys.c's own choice. */
static void pin_method(void)
{
	const char *env = getenv("DMK_PHYS_PIN");
	struct dmki_pin pin;
	int err;

	if (env && !strcmp(env, "mlock")) {
		doc_fact("pin method", "mlock", "DMK_PHYS_PIN=mlock asks for it");
		return;
	}
	err = dmki_pin_open(&pin);
	if (!err) {
		dmki_pin_close(&pin);
		doc_fact("pin method", "io_uring", "phys registrations are pinned for the long term "
			 "(io_uring registered buffers, FOLL_LONGTERM): their pages stay where they are");
	} else {
		doc_fact("pin method", "mlock", "io_uring's sparse registered buffers refused (%s): "
			 "pages are locked, but the kernel may still migrate them", strerror(-err));
	}
}

static void phys_space(const struct doc_who *who)
{
	struct dmk_space *sp;
	int err = dmk_space_phys_create(&sp);

	if (!err) {
		dmk_space_destroy(sp);
		doc_fact("phys space", "usable", "%s: physical addresses for devices on "
			 "uio_pci_generic (dmk_space_phys_create, dmk_pci_open_uio)",
			 who->euid ? "with CAP_SYS_ADMIN" : "as root");
	} else {
		doc_fact("phys space", "unusable", "dmk_space_phys_create: %s", dmk_last_error());
	}
}

/* hugepages-2048kB -> 2048; 0 when not such a name. */
static unsigned long pool_kb(const char *name)
{
	char *end;
	unsigned long kb;

	if (strncmp(name, "hugepages-", 10))
		return 0;
	kb = strtoul(name + 10, &end, 10);
	return strcmp(end, "kB") ? 0 : kb;
}

static int cmp_pool(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static void hugepages(void)
{
	DIR *d = opendir("/sys/kernel/mm/hugepages");
	unsigned long kb[16];
	size_t n = 0;
	struct dirent *e;

	if (!d) {
		doc_fact("hugepages", "missing", "no /sys/kernel/mm/hugepages (no hugetlbfs): "
			 "no MAP_HUGETLB buffers, and the NVMe driver has no queues in a phys space");
		return;
	}
	while ((e = readdir(d)) && n < sizeof(kb) / sizeof(kb[0]))
		if (pool_kb(e->d_name))
			kb[n++] = pool_kb(e->d_name);
	closedir(d);
	qsort(kb, n, sizeof(kb[0]), cmp_pool);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX], total[32] = "?", free_[32] = "?", key[48], v[96];

		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages", kb[i]);
		doc_read_line(path, total, sizeof(total));
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages", kb[i]);
		doc_read_line(path, free_, sizeof(free_));
		snprintf(key, sizeof(key), "hugepages %lukB", kb[i]);
		snprintf(v, sizeof(v), "total %s free %s", total, free_);
		if (kb[i] == 2048)
			doc_fact(key, v, "%s", strtoul(free_, NULL, 10) ? "MAP_HUGETLB buffers (dmakit sgl "
				 "--hugepage) and the NVMe driver's queues in a phys space can have one" :
				 "none free: MAP_HUGETLB buffers fail, and the NVMe driver's queues in a "
				 "phys space need one (echo 1 > /proc/sys/vm/nr_hugepages)");
		else
			doc_fact(key, v, "%s", strtoul(free_, NULL, 10) ? "MAP_HUGETLB buffers of this "
				 "size can be had" : "none free: MAP_HUGETLB buffers of this size fail");
	}
}

static void thp(void)
{
	char line[128], *open_, *close_;

	if (doc_read_line("/sys/kernel/mm/transparent_hugepage/enabled", line, sizeof(line)) ||
	    !(open_ = strchr(line, '[')) || !(close_ = strchr(open_, ']'))) {
		doc_fact("thp", "missing", "no transparent huge pages: 2 MiB pages only from the "
			 "hugetlb pools");
		return;
	}
	*close_ = 0;
	open_++;
	doc_fact("thp", open_, "%s", !strcmp(open_, "always") ? "anonymous memory gets 2 MiB pages "
		 "where it can: fewer, longer segments in a phys space" : !strcmp(open_, "madvise") ?
		 "2 MiB pages only where asked (MADV_HUGEPAGE, dmakit sgl --hugepage=thp)" :
		 "no transparent huge pages: 2 MiB pages only from the hugetlb pools");
}

void doc_memory(const struct doc_who *who)
{
	memlock(who);
	pagemap();
	populate_write();
	io_uring();
	pin_method();
	phys_space(who);
	hugepages();
	thp();
}
