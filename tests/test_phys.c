/* SPDX-License-Identifier: MIT */
/*
 * The phys space against the kernel's own word: every device address a
 * registration gives must be the frame /proc/self/pagemap shows for that
 * page, read here through a file of our own, not through the library.
 *
 * Needs root; every test skips otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <dmakit/dma.h>
#include <dmakit/error.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/spec.h>

#include "proc_long.h"

#define PG 4096ul
#define HUGE (2ul << 20)

static int pagemap = -1;

/* Physical address of the page holding @va, or 0 when not present. */
static uint64_t frame_of(uintptr_t va)
{
	uint64_t e = 0;

	assert_int_equal(pread(pagemap, &e, sizeof(e), (off_t)((va / PG) * sizeof(e))),
			 sizeof(e));
	if (!(e >> 63))
		return 0;
	return (e & ((1ull << 55) - 1)) * PG;
}

static long locked_bytes(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	/* Locked (mlock) or pinned (io_uring's long-term pins): held either way. */
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmLck:", 6) || !strncmp(line, "VmPin:", 6))
			kb = (kb < 0 ? 0 : kb) + atol(line + 6);
	fclose(f);
	assert_true(kb >= 0);
	return kb * 1024;
}

/*
 * @count() once it reads @want, or what it reads after 15 s (a guest under
 * emulation on a loaded machine runs the kernel's delayed work late). Some kernels
 * release io_uring's pins late: 6.1 drops an unregistered buffer's pin
 * from delayed work about a second later, and a closed ring's from a
 * worker; 6.12 at once. The pages stay pinned meanwhile (safe: nothing
 * translates to them any more), so a count that goes down is waited for.
 * Each test counts from what the process held before any space was made
 * (a space's creation pins a probe page too, released as late).
 */
static long held_at_start, pinned_at_start;

static long settled(long (*count)(void), long want)
{
	long n = count();

	for (int ms = 0; n != want && ms < 15000; ms += 10) {
		usleep(10000);
		n = count();
	}
	return n;
}

/* A phys space, or skip the test when this process may not have one. */
static struct dmk_space *phys_space(void)
{
	struct dmk_space *sp = NULL;
	int err;

	if (geteuid() != 0) {
		print_message("phys: not root, skipped\n");
		skip();
	}
	err = dmk_space_phys_create(&sp);
	if (err == -EPERM) {
		print_message("phys: frames hidden (%s), skipped\n", dmk_last_error());
		skip();
	}
	assert_int_equal(err, 0);
	assert_string_equal(dmk_space_kind(sp), "phys");
	if (pagemap < 0)
		pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	assert_true(pagemap >= 0);
	return sp;
}

/*
 * Check every pinned page of @r: translated address == pagemap frame, and
 * the region's run count matches the frames. Returns the run count.
 */
static size_t check_region(struct dmk_space *sp, struct dmk_region *r)
{
	struct dmk_region_info info;
	uintptr_t va;
	uint64_t dev, next = UINT64_MAX;
	size_t runs = 0;

	assert_int_equal(dmk_region_info(r, &info), 0);
	assert_true((uintptr_t)info.pinned_va % PG == 0);
	assert_true(info.pinned_len % PG == 0);
	for (va = (uintptr_t)info.pinned_va; va < (uintptr_t)info.pinned_va + info.pinned_len;
	     va += PG) {
		uint64_t pa = frame_of(va);

		assert_true(pa != 0);
		assert_int_equal(dmk_space_translate(sp, (void *)va, &dev), 0);
		assert_int_equal(dev, pa);
		/* a byte inside the page translates with its offset */
		assert_int_equal(dmk_space_translate(sp, (void *)(va + 123), &dev), 0);
		assert_int_equal(dev, pa + 123);
		runs += pa != next;
		next = pa + PG;
	}
	assert_int_equal(info.dev_runs, runs);
	return runs;
}

static void test_buffers(void **state)
{
	static const size_t sizes[] = { 1, 100, PG, 3 * PG + 7, 1ul << 20, (8ul << 20) + 123 };
	static const size_t offs[] = { 0, 1, 2049, PG - 1 };
	struct dmk_space *sp = phys_space();
	long base = held_at_start;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
			struct dmk_region_info info;
			struct dmk_region *r;
			char *buf = NULL;
			uint64_t dev;

			/* large ones come fresh from mmap: never touched */
			assert_int_equal(posix_memalign((void **)&buf, PG, sizes[i] + offs[j]), 0);
			assert_int_equal(dmk_region_register(sp, buf + offs[j], sizes[i], DMK_PROT_RW,
							     &r), 0);
			check_region(sp, r);
			assert_int_equal(dmk_region_info(r, &info), 0);
			assert_ptr_equal(info.pinned_va, (void *)((uintptr_t)(buf + offs[j]) & ~(PG - 1)));
			assert_int_equal(settled(locked_bytes, base + info.pinned_len) - base, info.pinned_len);
			assert_int_equal(dmk_space_translate(sp, buf + offs[j], &dev), 0);
			assert_int_equal(dev, frame_of((uintptr_t)(buf + offs[j])) + (uintptr_t)(buf + offs[j]) % PG);

			/* writing must not move a page: mlock faulted them in writable */
			memset(buf + offs[j], 0xa5, sizes[i]);
			check_region(sp, r);

			assert_int_equal(dmk_region_unregister(r), 0);
			assert_int_equal(settled(locked_bytes, base), base);
			assert_int_equal(dmk_space_translate(sp, buf + offs[j], &dev), -EFAULT);
			free(buf);
		}
	}
	assert_int_equal(dmk_space_destroy(sp), 0);
}

/*
 * A phys space that pins with mlock (DMK_PHYS_PIN=mlock), whose lock counts
 * the next tests check page by page.
 */
static struct dmk_space *phys_space_mlock(void)
{
	struct dmk_space *sp;

	setenv("DMK_PHYS_PIN", "mlock", 1);
	sp = phys_space();
	unsetenv("DMK_PHYS_PIN");
	return sp;
}

/* Two registrations share a page; dropping one must leave it locked. */
static void test_shared_page(void **state)
{
	struct dmk_space *sp = phys_space_mlock();
	long base = held_at_start;
	struct dmk_region *a, *b;
	char *buf = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(buf != MAP_FAILED);
	/* a: pages 0-2, b: pages 2-4, page 2 in both */
	assert_int_equal(dmk_region_register(sp, buf + 10, 3 * PG - 100, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_register(sp, buf + 2 * PG + 3000, 2 * PG + 5, DMK_PROT_RW, &b), 0);
	assert_int_equal(settled(locked_bytes, base + 5 * PG) - base, 5 * PG);
	check_region(sp, a);
	check_region(sp, b);

	assert_int_equal(dmk_region_unregister(a), 0);
	assert_int_equal(settled(locked_bytes, base + 3 * PG) - base, 3 * PG);	/* pages 2-4 */
	check_region(sp, b);
	assert_int_equal(dmk_region_register(sp, buf, 8 * PG, DMK_PROT_RW, &a), 0);
	assert_int_equal(settled(locked_bytes, base + 8 * PG) - base, 8 * PG);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_int_equal(settled(locked_bytes, base + 3 * PG) - base, 3 * PG);
	assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(settled(locked_bytes, base), base);
	assert_int_equal(dmk_space_destroy(sp), 0);
	munmap(buf, 8 * PG);
}

/*
 * Random overlapping registrations: the pages locked are always exactly
 * the union of what the live ones pinned, and every live one translates
 * to the kernel's frames.
 */
static void test_overlap_random(void **state)
{
	enum { NPAGES = 64, NSLOTS = 12, ROUNDS = 3000 };
	struct dmk_space *sp = phys_space_mlock();
	long base = held_at_start;
	struct dmk_region *slot[NSLOTS] = { 0 };
	uintptr_t lo[NSLOTS], hi[NSLOTS];
	char *buf = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	unsigned seed = 12345;

	(void)state;
	assert_true(buf != MAP_FAILED);
	for (int round = 0; round < ROUNDS; round++) {
		int i = (int)(rand_r(&seed) % NSLOTS);
		long want = 0;

		if (slot[i]) {
			assert_int_equal(dmk_region_unregister(slot[i]), 0);
			slot[i] = NULL;
		} else {
			size_t off = rand_r(&seed) % (NPAGES * PG - 1);
			size_t len = 1 + rand_r(&seed) % (rand_r(&seed) % 4 ? 3 * PG : NPAGES * PG);
			struct dmk_region_info info;

			if (off + len > NPAGES * PG)
				len = NPAGES * PG - off;
			assert_int_equal(dmk_region_register(sp, buf + off, len, DMK_PROT_RW, &slot[i]), 0);
			/* a range inside another is that one, one reference more */
			assert_int_equal(dmk_region_info(slot[i], &info), 0);
			lo[i] = (uintptr_t)info.pinned_va;
			hi[i] = lo[i] + info.pinned_len;
			check_region(sp, slot[i]);
		}
		for (uintptr_t va = (uintptr_t)buf; va < (uintptr_t)buf + NPAGES * PG; va += PG) {
			for (int j = 0; j < NSLOTS; j++) {
				if (slot[j] && lo[j] <= va && va < hi[j]) {
					want += PG;
					break;
				}
			}
		}
		assert_int_equal(settled(locked_bytes, base + want) - base, want);
	}
	for (int i = 0; i < NSLOTS; i++)
		if (slot[i])
			assert_int_equal(dmk_region_unregister(slot[i]), 0);
	assert_int_equal(settled(locked_bytes, base), base);
	assert_int_equal(dmk_space_destroy(sp), 0);
	munmap(buf, NPAGES * PG);
}

/* One huge page: one device run, one segment under rules that allow all. */
static void check_huge(struct dmk_space *sp, char *p)
{
	struct dmk_dma_spec spec;
	struct dmk_region_info info;
	struct dmk_region *r;
	struct dmk_dma *dma;
	const struct dmk_seg *segs;
	uint64_t covered = 0;
	size_t n = 0;

	assert_int_equal(dmk_region_register(sp, p, HUGE, DMK_PROT_RW, &r), 0);
	assert_int_equal(check_region(sp, r), 1);
	assert_int_equal(dmk_region_info(r, &info), 0);
	assert_int_equal(info.dev_runs, 1);

	dmk_dma_spec_init(&spec);
	assert_int_equal(dmk_dma_create(sp, &spec, NULL, &dma), 0);
	assert_int_equal(dmk_dma_prepare_buf(dma, p, HUGE, DMK_FROM_DEVICE, &covered), 0);
	assert_int_equal(covered, HUGE);
	segs = dmk_dma_segs(dma, &n);
	assert_int_equal(n, 1);
	assert_int_equal(segs[0].addr, frame_of((uintptr_t)p));
	assert_int_equal(segs[0].len, HUGE);
	assert_int_equal(dmk_dma_complete(dma), 0);
	assert_int_equal(dmk_dma_destroy(dma), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
}

#define NR_HUGE "/proc/sys/vm/nr_hugepages"
#define FREE_HUGE "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

static void test_hugetlb(void **state)
{
	struct dmk_space *sp = phys_space();
	long orig = read_long(NR_HUGE);
	bool raised = false;
	char *p;

	(void)state;
	if (read_long(FREE_HUGE) < 1 && orig >= 0)
		raised = write_long(NR_HUGE, orig + 1) == 0;
	p = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		 -1, 0);
	if (p == MAP_FAILED) {
		if (raised)
			write_long(NR_HUGE, orig);
		assert_int_equal(dmk_space_destroy(sp), 0);
		print_message("phys: no 2 MiB hugetlb page to be had (%s), skipped\n",
			      strerror(errno));
		skip();
	}
	check_huge(sp, p);	/* never touched: the registration faults it in */
	munmap(p, HUGE);
	if (raised)
		write_long(NR_HUGE, orig);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

static void test_thp(void **state)
{
	struct dmk_space *sp = phys_space();
	char *map, *p;

	(void)state;
	map = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	p = (char *)(((uintptr_t)map + HUGE - 1) & ~(HUGE - 1));
	if (madvise(p, HUGE, MADV_HUGEPAGE) == 0)
		memset(p, 1, HUGE);
	for (uintptr_t va = (uintptr_t)p + PG; va < (uintptr_t)p + HUGE; va += PG) {
		if (frame_of(va) != frame_of((uintptr_t)p) + (va - (uintptr_t)p)) {
			munmap(map, 2 * HUGE);
			assert_int_equal(dmk_space_destroy(sp), 0);
			print_message("phys: no transparent huge page (THP off or memory "
				      "fragmented), skipped\n");
			skip();
		}
	}
	check_huge(sp, p);
	munmap(map, 2 * HUGE);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

/*
 * Read-only memory: the device may read it (untouched anonymous pages are
 * whatever the kernel maps for a read, the zero page on most kernels), and
 * never write it: refused from the mapping's permissions, nothing pinned.
 */
static void test_read_only(void **state)
{
	struct dmk_space *sp = phys_space();
	long base = held_at_start;
	struct dmk_region *r;
	char *p = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(p != MAP_FAILED);
	assert_int_equal(dmk_region_register(sp, p, 4 * PG, DMK_PROT_WRITE, &r), -EACCES);
	assert_non_null(strstr(dmk_last_error(), "this process may not"));
	assert_int_equal(settled(locked_bytes, base), base);
	assert_int_equal(dmk_region_register(sp, p, 4 * PG, DMK_PROT_READ, &r), 0);
	check_region(sp, r);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(settled(locked_bytes, base), base);

	/* writable, then made read-only: still refused for device writes */
	assert_int_equal(mprotect(p, 4 * PG, PROT_READ | PROT_WRITE), 0);
	memset(p, 7, 4 * PG);
	assert_int_equal(mprotect(p + PG, PG, PROT_READ), 0);
	assert_int_equal(dmk_region_register(sp, p, 4 * PG, DMK_PROT_RW, &r), -EACCES);
	assert_int_equal(settled(locked_bytes, base), base);
	munmap(p, 4 * PG);

	/* and a hole is -EFAULT, not -ENOMEM */
	assert_int_equal(dmk_region_register(sp, p, 4 * PG, DMK_PROT_READ, &r), -EFAULT);
	assert_int_equal(settled(locked_bytes, base), base);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

/*
 * Every kind of memory an application hands over, each in a space made
 * just before, as a program would: written, never touched, read-only and
 * never touched, partly read-only. Nothing here may depend on how the
 * kernel faults untouched pages (a shared zero page or a frame of its
 * own): every registration the device may write succeeds, and what the
 * device sees is the frame the process then writes to.
 */
static void check_fresh(struct dmk_space *sp, size_t len, unsigned prot, bool written)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct dmk_region *r;

	assert_true(p != MAP_FAILED);
	if (written)
		memset(p, 0x5a, len);
	assert_int_equal(dmk_region_register(sp, p, len, prot, &r), 0);
	check_region(sp, r);
	/* the process writes: no page may move away from what the device has */
	memset(p, 0xc3, len);
	check_region(sp, r);
	assert_int_equal(dmk_region_unregister(r), 0);
	munmap(p, len);
}

static void test_fresh_memory(void **state)
{
	enum { ROUNDS = 100, LEN = 256 << 10 };
	static const unsigned prots[] = { DMK_PROT_RW, DMK_PROT_WRITE, DMK_PROT_READ };
	long base = held_at_start;

	(void)state;
	for (int pin = 0; pin < 2; pin++) {
		for (int round = 0; round < ROUNDS; round++) {
			struct dmk_space *sp = pin ? phys_space() : phys_space_mlock();
			unsigned prot = prots[round % 3];
			struct dmk_region *r;
			char *ro;

			check_fresh(sp, LEN, prot, true);
			check_fresh(sp, LEN, prot, false);
			check_fresh(sp, PG, prot, false);

			/* read-only and untouched: readable by the device, never writable */
			ro = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			assert_true(ro != MAP_FAILED);
			assert_int_equal(dmk_region_register(sp, ro, LEN, DMK_PROT_READ, &r), 0);
			check_region(sp, r);
			assert_int_equal(dmk_region_unregister(r), 0);
			assert_int_equal(dmk_region_register(sp, ro, LEN, DMK_PROT_WRITE, &r),
					 -EACCES);
			munmap(ro, LEN);
			assert_int_equal(dmk_space_destroy(sp), 0);
		}
		/* once a pin method, not each round: where the kernel releases
		 * late (6.1) a round's wait is a second, and a leak would add up */
		assert_int_equal(settled(locked_bytes, base), base);
	}
}

/*
 * Untouched memory, partly read-only, that the device only reads: the
 * writable parts are the process's own pages from the registration on.
 */
static void test_partly_read_only(void **state)
{
	struct dmk_space *sp = phys_space();
	char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct dmk_region *r;

	(void)state;
	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p + 2 * PG, 2 * PG, PROT_READ), 0);
	assert_int_equal(dmk_region_register(sp, p, 8 * PG, DMK_PROT_READ, &r), 0);
	check_region(sp, r);
	memset(p, 1, 2 * PG);
	memset(p + 4 * PG, 2, 4 * PG);
	check_region(sp, r);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_region_register(sp, p, 8 * PG, DMK_PROT_RW, &r), -EACCES);
	munmap(p, 8 * PG);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

static int child_create(bool dumpable)
{
	struct dmk_space *sp = NULL;
	int err;

	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 2;
	/*
	 * Changing uid makes the process undumpable, which makes its /proc
	 * files root's: open() fails. Dumpable again, open() works and the
	 * kernel hides the frames instead. Both must be -EPERM.
	 */
	if (dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		return 3;
	err = dmk_space_phys_create(&sp);
	if (err != -EPERM) {
		fprintf(stderr, "uid 65534 (dumpable %d): %d %s\n", dumpable, err, dmk_last_error());
		return 1;
	}
	fprintf(stderr, "uid 65534 (dumpable %d): -EPERM: %s\n", dumpable, dmk_last_error());
	return 0;
}

static void test_not_root(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		struct dmk_space *sp = NULL;

		/* we are the unprivileged case already */
		assert_int_equal(dmk_space_phys_create(&sp), -EPERM);
		return;
	}
	for (int dumpable = 0; dumpable < 2; dumpable++) {
		int status = -1;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			_exit(child_create(dumpable));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

/* A forked child must not use its parent's space: the pagemap is the parent's. */
static void test_forked_child(void **state)
{
	struct dmk_space *sp = phys_space();
	int status = -1;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dmk_region *r;
		char *p = malloc(PG);

		_exit(p && dmk_region_register(sp, p, PG, DMK_PROT_RW, &r) == -EINVAL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

/*
 * io_uring's long-term pins (the default where the kernel allows them):
 * each registration holds its own pin, so overlapping ones both count in
 * VmPin, and dropping one leaves the other's pages pinned and translating.
 */
static long pinned_bytes(void)
{
	char line[256];
	long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmPin:", 6))
			kb = atol(line + 6);
	fclose(f);
	return kb * 1024;
}

static void test_pinned_overlap(void **state)
{
	struct dmk_space *sp = phys_space();
	long base = pinned_at_start;
	struct dmk_region *a, *b;
	char *buf = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(buf != MAP_FAILED);
	assert_int_equal(dmk_region_register(sp, buf, 3 * PG, DMK_PROT_RW, &a), 0);
	if (pinned_bytes() == base) {
		dmk_region_unregister(a);
		dmk_space_destroy(sp);
		munmap(buf, 8 * PG);
		print_message("io_uring pins are not available here: mlock only\n");
		skip();
	}
	assert_int_equal(settled(pinned_bytes, base + 3 * PG) - base, 3 * PG);
	assert_int_equal(dmk_region_register(sp, buf + 2 * PG, 3 * PG, DMK_PROT_RW, &b), 0);
	assert_int_equal(settled(pinned_bytes, base + 6 * PG) - base, 6 * PG);
	check_region(sp, a);
	check_region(sp, b);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_int_equal(settled(pinned_bytes, base + 3 * PG) - base, 3 * PG);
	check_region(sp, b);
	assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(settled(pinned_bytes, base), base);
	assert_int_equal(dmk_space_destroy(sp), 0);
	munmap(buf, 8 * PG);
}

int main(void)
{
	held_at_start = locked_bytes();
	pinned_at_start = pinned_bytes();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffers),
		cmocka_unit_test(test_shared_page),
		cmocka_unit_test(test_pinned_overlap),
		cmocka_unit_test(test_overlap_random),
		cmocka_unit_test(test_hugetlb),
		cmocka_unit_test(test_thp),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_fresh_memory),
		cmocka_unit_test(test_partly_read_only),
		cmocka_unit_test(test_not_root),
		cmocka_unit_test(test_forked_child),
	};

	return cmocka_run_group_tests_name("phys", tests, NULL, NULL);
}
