/* SPDX-License-Identifier: MIT */
/*
 * dmakit-bench: nanoseconds per operation of dmakit's hot paths.
 *
 * One line per case:
 *
 *	case=NAME size=BYTES page=BYTES layout=contig|scattered regions=N ns_per_op=FLOAT
 *
 * (fields that do not apply to a case are left out), preceded by comment
 * lines starting with '#' that describe the machine. Each figure is the
 * median of repeated timed loops (CLOCK_MONOTONIC around a loop of enough
 * iterations for about 20 ms), after a warm-up. Nothing is pinned.
 *
 * Cases:
 *	prp	dmk_dma_prepare_buf() + dmk_nvme_prp_write_dma() + dmk_dma_complete()
 *		of a registered buffer under the "nvme-prp" rules, in a sim space
 *		of 4 KiB or 2 MiB IOMMU pages (page=), contiguous or scattered.
 *	sgl	the same with dmk_nvme_sgl_write() under "nvme-sgl".
 *	lookup	random independent dmk_space_translate() over N registered
 *		2 MiB regions of a sim contig space.
 *	phys_register	dmk_region_register() in a phys space, per 4 KiB page
 *		(root only).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/dma.h>
#include <dmakit/error.h>
#include <dmakit/nvme_fmt.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/spec.h>

#include "bench_util.h"

/* In bench_phys.c. */
int dmki_bench_phys_register(double *ns_per_page);

#define MIB (UINT64_C(1) << 20)
#define HUGE_2M (2 * MIB)
#define LIST_PAGE 4096u
#define LIST_PAGES 8u
#define LOOKUP_ADDRS (1u << 16)

static struct {
	bool quick;
	const char *filter;
	uint64_t only_size, only_page, only_regions;	/* 0: all */
	int only_layout;				/* -1: all */
	int repeats;
	double target_ns;
} opt = { .repeats = 9, .target_ns = 20e6, .only_layout = -1 };

/* The compiler must not drop loops whose results nobody reads. */
static volatile uint64_t sink;

static bool selected(const char *name)
{
	const char *f = opt.filter;
	size_t n = strlen(name);

	if (!f)
		return true;
	/* a comma-separated list of case names */
	while (*f) {
		size_t k = strcspn(f, ",");

		if (k == n && !strncmp(f, name, n))
			return true;
		f += k;
		if (*f)
			f++;
	}
	return false;
}

static void die_lib(const char *what, int err)
{
	fprintf(stderr, "dmakit-bench: %s: %s (%s)\n", what, dmk_last_error(), strerror(-err));
	exit(1);
}

/*
 * A timed body: runs @iters operations and returns a value depending on
 * all of them, or sets *@err.
 */
typedef uint64_t (*body_fn)(void *ctx, uint64_t iters, int *err);

/*
 * Median nanoseconds per operation of @body: grow the iteration count until
 * one loop takes a tenth of the target (this is the warm-up), size the loop
 * for the target, then time it opt.repeats times.
 */
static double measure(body_fn body, void *ctx)
{
	double t[16], dt;
	uint64_t iters = 1, acc = 0;
	int err = 0;

	for (;;) {
		double t0 = bench_now_ns();

		acc += body(ctx, iters, &err);
		dt = bench_now_ns() - t0;
		if (err)
			die_lib("benchmark body", err);
		if (dt >= opt.target_ns / 10 || iters >= (UINT64_C(1) << 40))
			break;
		iters *= 2;
	}
	iters = (uint64_t)((double)iters * opt.target_ns / (dt > 1 ? dt : 1));
	if (!iters)
		iters = 1;
	acc += body(ctx, iters, &err);	/* warm at the final size */
	for (int r = 0; r < opt.repeats; r++) {
		double t0 = bench_now_ns();

		acc += body(ctx, iters, &err);
		t[r] = (bench_now_ns() - t0) / (double)iters;
		if (err)
			die_lib("benchmark body", err);
	}
	sink += acc;
	return bench_median(t, (size_t)opt.repeats);
}

/* ---- prp and sgl: one I/O on a registered buffer --------------------- */

struct io_ctx {
	struct dmk_dma *dma;
	void *buf;
	size_t size;
	uint64_t dev_page;
	struct dmk_list_page pages[LIST_PAGES];
	bool sgl;
};

static uint64_t io_body(void *p, uint64_t iters, int *err)
{
	struct io_ctx *c = p;
	uint64_t acc = 0;

	for (uint64_t i = 0; i < iters; i++) {
		const struct dmk_seg *segs;
		uint64_t covered, prp[2];
		uint8_t sgl1[16];
		size_t n, used;
		int e;

		e = dmk_dma_prepare_buf(c->dma, c->buf, c->size, DMK_FROM_DEVICE, &covered);
		if (e) {
			*err = e;
			return acc;
		}
		segs = dmk_dma_segs(c->dma, &n);
		if (c->sgl) {
			e = dmk_nvme_sgl_write(segs, n, LIST_PAGE, c->pages, LIST_PAGES, sgl1, &used);
			memcpy(prp, sgl1, sizeof(prp));
		} else {
			/* What a PRP driver calls: the command's rules already made the segments legal. */
			e = dmk_nvme_prp_write_dma(c->dma, c->dev_page, c->pages, LIST_PAGES, prp, &used);
		}
		if (e) {
			*err = e;
			dmk_dma_complete(c->dma);
			return acc;
		}
		acc += prp[0] ^ prp[1] ^ covered;
		dmk_dma_complete(c->dma);
	}
	return acc;
}

static void bench_io(bool sgl, size_t size, uint64_t page, enum dmk_sim_layout layout)
{
	struct dmk_sim_config cfg = {
		.page_size = page,
		.window_base = UINT64_C(1) << 32,
		.window_size = (UINT64_C(1) << 47) - (UINT64_C(1) << 32),
		.layout = layout,
		.seed = 42,
	};
	struct dmk_region *rbuf, *rlist;
	struct dmk_dma_spec spec;
	struct io_ctx c = { .size = size, .sgl = sgl };
	struct dmk_space *sp;
	void *list = NULL;
	uint64_t covered;
	double ns;
	int err;

	if ((err = dmk_space_sim_create(&cfg, &sp)))
		die_lib("dmk_space_sim_create", err);
	/* 2 MiB aligned, so that a 2 MiB IOMMU page holds up to 2 MiB of it */
	if (posix_memalign(&c.buf, HUGE_2M, size) || posix_memalign(&list, LIST_PAGE, LIST_PAGES * LIST_PAGE)) {
		fprintf(stderr, "dmakit-bench: out of memory\n");
		exit(1);
	}
	memset(c.buf, 0, size);
	memset(list, 0, LIST_PAGES * LIST_PAGE);
	if ((err = dmk_region_register(sp, c.buf, size, DMK_PROT_RW, &rbuf)))
		die_lib("dmk_region_register (buffer)", err);
	if ((err = dmk_region_register(sp, list, LIST_PAGES * LIST_PAGE, DMK_PROT_READ, &rlist)))
		die_lib("dmk_region_register (list pages)", err);
	for (unsigned i = 0; i < LIST_PAGES; i++) {
		c.pages[i].va = (char *)list + i * LIST_PAGE;
		if ((err = dmk_space_translate(sp, c.pages[i].va, &c.pages[i].dev)))
			die_lib("dmk_space_translate", err);
	}
	if ((err = dmk_dma_spec_preset(&spec, sgl ? "nvme-sgl" : "nvme-prp")))
		die_lib("dmk_dma_spec_preset", err);
	c.dev_page = spec.dev_page_size;
	if ((err = dmk_dma_create(sp, &spec, NULL, &c.dma)))
		die_lib("dmk_dma_create", err);
	/*
	 * The whole buffer in one command, the same segments every time (a
	 * reused command must not keep the last I/O's), or the figure means
	 * nothing.
	 */
	for (int round = 0; round < 2; round++) {
		const struct dmk_seg *segs;
		uint64_t sum = 0;
		size_t n;

		if ((err = dmk_dma_prepare_buf(c.dma, c.buf, size, DMK_FROM_DEVICE, &covered)))
			die_lib("dmk_dma_prepare_buf", err);
		segs = dmk_dma_segs(c.dma, &n);
		for (size_t i = 0; i < n; i++)
			sum += segs[i].len;
		dmk_dma_complete(c.dma);
		if (covered != size || sum != size) {
			fprintf(stderr, "dmakit-bench: prepare %d of %zu bytes: covered %" PRIu64 ", %zu segments summing to %" PRIu64 "\n",
				round, size, covered, n, sum);
			exit(1);
		}
	}

	ns = measure(io_body, &c);
	printf("case=%s size=%zu page=%" PRIu64 " layout=%s ns_per_op=%.1f\n", sgl ? "sgl" : "prp",
	       size, page, layout == DMK_SIM_CONTIG ? "contig" : "scattered", ns);
	fflush(stdout);

	dmk_dma_destroy(c.dma);
	dmk_region_unregister(rlist);
	dmk_region_unregister(rbuf);
	if ((err = dmk_space_destroy(sp)))
		die_lib("dmk_space_destroy", err);
	free(list);
	free(c.buf);
}

/* ---- lookup: VA -> device address over many regions ------------------- */

struct lookup_ctx {
	struct dmk_space *sp;
	const void **addrs;	/* LOOKUP_ADDRS random addresses */
};

static uint64_t lookup_body(void *p, uint64_t iters, int *err)
{
	struct lookup_ctx *c = p;
	uint64_t acc = 0;
	uint64_t i = 0;

	while (i < iters) {
		uint64_t n = iters - i < LOOKUP_ADDRS ? iters - i : LOOKUP_ADDRS;

		for (uint64_t k = 0; k < n; k++) {
			uint64_t dev;
			int e = dmk_space_translate(c->sp, c->addrs[k], &dev);

			if (__builtin_expect(e, 0)) {
				*err = e;
				return acc;
			}
			acc += dev;
		}
		i += n;
	}
	return acc;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void bench_lookup(size_t regions)
{
	struct dmk_region **r;
	struct lookup_ctx c;
	size_t span = regions * HUGE_2M;
	uint64_t seed = 7;
	char *map, *base;
	double ns;
	int err;

	if ((err = dmk_space_sim_create(NULL, &c.sp)))
		die_lib("dmk_space_sim_create", err);
	map = mmap(NULL, span + HUGE_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "dmakit-bench: mmap of %zu bytes: %s\n", span + HUGE_2M, strerror(errno));
		exit(1);
	}
	base = (char *)(((uintptr_t)map + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	r = calloc(regions, sizeof(*r));
	c.addrs = malloc(LOOKUP_ADDRS * sizeof(*c.addrs));
	if (!r || !c.addrs) {
		fprintf(stderr, "dmakit-bench: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < regions; i++)
		if ((err = dmk_region_register(c.sp, base + i * HUGE_2M, HUGE_2M, DMK_PROT_RW, &r[i])))
			die_lib("dmk_region_register", err);
	for (size_t k = 0; k < LOOKUP_ADDRS; k++)
		c.addrs[k] = base + splitmix64(&seed) % span;

	ns = measure(lookup_body, &c);
	printf("case=lookup regions=%zu ns_per_op=%.2f\n", regions, ns);
	fflush(stdout);

	for (size_t i = 0; i < regions; i++)
		dmk_region_unregister(r[i]);
	if ((err = dmk_space_destroy(c.sp)))
		die_lib("dmk_space_destroy", err);
	munmap(map, span + HUGE_2M);
	free(r);
	free(c.addrs);
}

/* ---- phys registration ------------------------------------------------ */

static void bench_phys(void)
{
	double ns;
	int err;

	if (geteuid() != 0) {
		printf("case=phys_register skipped=not-root\n");
		return;
	}
	err = dmki_bench_phys_register(&ns);
	if (err == -EPERM) {
		printf("case=phys_register skipped=no-pagemap-frames\n");
		return;
	}
	if (err)
		die_lib("phys registration", err);
	/* bench_phys.c registers 64 MiB; the figure is per 4 KiB page */
	printf("case=phys_register size=%lu page=4096 ns_per_op=%.1f\n", 64ul << 20, ns);
	fflush(stdout);
}

/* ---- main ------------------------------------------------------------- */

static void print_machine(void)
{
	char line[512], model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');

			if (!strncmp(line, "model name", 10) && colon) {
				colon++;
				colon += strspn(colon, " \t");
				colon[strcspn(colon, "\n")] = 0;
				snprintf(model, sizeof(model), "%s", colon);
				break;
			}
		}
		fclose(f);
	}
	printf("# dmakit-bench: cpu=\"%s\" nproc=%ld repeats=%d loop_ms=%.0f%s\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), opt.repeats, opt.target_ns / 1e6,
	       opt.quick ? " quick" : "");
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dmakit-bench [--quick] [--filter NAME[,NAME...]] [--size B] [--page B] [--layout L] [--regions N]\n"
		"\n"
		"Prints one line per case: case=NAME size=BYTES page=BYTES layout=L regions=N ns_per_op=F\n"
		"(median of repeated timed loops; fields that do not apply are left out).\n"
		"\n"
		"  --quick          fewer and shorter repeats (for CI)\n"
		"  --filter NAMES   run only these cases: prp, sgl, lookup, phys_register\n"
		"  --size BYTES, --page BYTES, --layout contig|scattered, --regions N\n"
		"                   run only the variants with this field (for profiling)\n"
		"  -h, --help       this text\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "filter", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "page", required_argument, NULL, 'p' },
		{ "layout", required_argument, NULL, 'l' },
		{ "regions", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const size_t sizes[] = { 4096, 128 * 1024, MIB };
	static const uint64_t pages[] = { 4096, HUGE_2M };
	static const enum dmk_sim_layout layouts[] = { DMK_SIM_CONTIG, DMK_SIM_SCATTERED };
	static const size_t nregions[] = { 16, 1024, 65536 };
	int c;

	while ((c = getopt_long(argc, argv, "qf:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			opt.quick = true;
			opt.repeats = 3;
			opt.target_ns = 2e6;
			break;
		case 'f':
			opt.filter = optarg;
			break;
		case 's':
		case 'p':
		case 'r': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 0);

			if (*end || !v) {
				fprintf(stderr, "dmakit-bench: '%s' is not a positive number\n", optarg);
				return 2;
			}
			*(c == 's' ? &opt.only_size : c == 'p' ? &opt.only_page : &opt.only_regions) = v;
			break;
		}
		case 'l':
			if (!strcmp(optarg, "contig"))
				opt.only_layout = DMK_SIM_CONTIG;
			else if (!strcmp(optarg, "scattered"))
				opt.only_layout = DMK_SIM_SCATTERED;
			else {
				fprintf(stderr, "dmakit-bench: --layout %s: say contig or scattered\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dmakit-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (opt.filter) {
		static const char *const known[] = { "prp", "sgl", "lookup", "phys_register" };
		const char *f = opt.filter;

		while (*f) {
			size_t k = strcspn(f, ","), i;

			for (i = 0; i < 4; i++)
				if (strlen(known[i]) == k && !strncmp(known[i], f, k))
					break;
			if (i == 4) {
				fprintf(stderr, "dmakit-bench: unknown case '%.*s' in --filter (known: prp, sgl, lookup, phys_register)\n",
					(int)k, f);
				return 2;
			}
			f += k;
			if (*f)
				f++;
		}
	}

	print_machine();
	for (int s = 0; s < 2; s++) {
		bool sgl = s == 1;

		if (!selected(sgl ? "sgl" : "prp"))
			continue;
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++)
				for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++)
					if ((!opt.only_size || opt.only_size == sizes[i]) &&
					    (!opt.only_page || opt.only_page == pages[p]) &&
					    (opt.only_layout < 0 || opt.only_layout == (int)layouts[l]))
						bench_io(sgl, sizes[i], pages[p], layouts[l]);
	}
	if (selected("lookup"))
		for (size_t i = 0; i < sizeof(nregions) / sizeof(nregions[0]); i++)
			if (!opt.only_regions || opt.only_regions == nregions[i])
				bench_lookup(nregions[i]);
	if (selected("phys_register"))
		bench_phys();
	return 0;
}
