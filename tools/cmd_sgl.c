/* SPDX-License-Identifier: MIT */
/*
 * dmakit sgl: what an application buffer becomes when a device DMAs into it.
 *
 * Allocates a buffer the way an application would (posix_memalign, or huge
 * pages), registers it in a space (sim, or phys as root), prepares it under
 * a device's rules and prints every command's segments, from the first byte
 * to the last, and the NVMe PRPs or SGLs written from them, read back the
 * way a controller reads them.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dmakit/dma.h>
#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/nvme_fmt.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/spec.h>

/* The pool's chunk addresses, to tell which segments lie in it. */
#include "dma/dma_priv.h"

#include "cmd.h"
#include "opts.h"

#define PROG "dmakit sgl"
#define HUGE_2M (UINT64_C(2) << 20)

enum huge_mode { HUGE_NONE, HUGE_AUTO, HUGE_HUGETLB, HUGE_THP };
enum fmt { FMT_AUTO, FMT_NONE, FMT_PRP, FMT_SGL };

struct rule_opt {
	bool set;
	uint64_t v;
};

struct sgl_opts {
	uint64_t size, offset, align;
	enum huge_mode huge;
	bool touch;
	const char *space;
	enum dmk_sim_layout layout;
	uint64_t sim_page, seed;
	struct rule_opt sim_base, sim_size;
	enum dmk_dir dir;
	const char *rules;
	struct rule_opt addr_low, addr_high, max_seg, max_segs, max_transfer, boundary, addr_align,
		len_align, page;
	int page_list;		/* -1: as the rules say */
	uint64_t bounce;
	enum fmt fmt;
	uint64_t sgl_list;
};

/* A device address range of the bounce pool. */
struct dev_range {
	uint64_t lo, hi;	/* [lo, hi) */
};

struct sgl_ctx {
	struct sgl_opts o;
	struct dmk_dma_spec spec;
	struct dmk_space *sp;
	struct dmk_bounce_pool *pool;
	struct dev_range *pool_ranges;
	size_t npool_ranges;
	char *va;		/* the buffer */
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: dmakit sgl [options]\n"
"\n"
"Allocate a buffer as an application would, register it in a space, prepare\n"
"it for DMA under a device's rules and print what the device is given: every\n"
"command's segments (resuming from offset + covered until the whole buffer is\n"
"shown) and, for NVMe, the PRPs or SGLs written from them, decoded.\n"
"\n"
"Buffer:\n"
"  --size BYTES          buffer length (suffixes K, M, G; default 64K)\n"
"  --offset BYTES        start this far into the allocation (default 0)\n"
"  --align BYTES         posix_memalign alignment (default 4096)\n"
"  --hugepage[=MODE]     huge pages: auto (MAP_HUGETLB 2 MiB, else THP),\n"
"                        hugetlb, or thp (madvise MADV_HUGEPAGE); the\n"
"                        allocation is then 2 MiB aligned, --align unused\n"
"                        (default: none; MODE default auto)\n"
"  --touch, --no-touch   write the buffer before registering, or not (default:\n"
"                        not)\n"
"Space:\n"
"  --space sim|phys      sim: software IOMMU (default); phys: physical\n"
"                        addresses from /proc/self/pagemap (root only)\n"
"  --layout L            sim: contig (default), scattered or reversed\n"
"  --sim-page BYTES      sim IOMMU page size (default 4096)\n"
"  --seed N              sim scattered layout seed (default 1)\n"
"  --sim-base ADDR       sim device window base (default 4 GiB, or inside the\n"
"  --sim-size BYTES      rules' window when that ends lower) and size\n"
"Transfer:\n"
"  --dir to|from         to the device (it reads) or from it (it writes;\n"
"                        default)\n"
"  --rules NAME          nvme-prp, nvme-sgl, edu or any (default any)\n"
"  --addr-low ADDR       lowest device address reachable\n"
"  --addr-high ADDR      highest device address reachable (inclusive)\n"
"  --max-seg BYTES       largest segment (0: no limit)\n"
"  --max-segs N          most segments a command (0: no limit)\n"
"  --max-transfer BYTES  most bytes a command (0: no limit)\n"
"  --boundary BYTES      power of two no segment crosses (0: none)\n"
"  --addr-align BYTES    segment address alignment\n"
"  --len-align BYTES     segment length alignment\n"
"  --page BYTES          device page size\n"
"  --page-list, --no-page-list   the page-list (PRP) rule on or off\n"
"  --bounce-pool BYTES   bounce pool for pieces that break a rule in place\n"
"                        (default 0: none)\n"
"Output:\n"
"  --format F            prp, sgl or none (default: prp for nvme-prp rules,\n"
"                        sgl for nvme-sgl, none otherwise)\n"
"  --sgl-list-size BYTES bytes of one SGL segment list, 32 to 4096 (default 4096)\n"
"  -h, --help            this text\n"
"  --version             print the version\n"
"\n"
"Rule flags (--addr-low to --page-list) change the preset named by --rules,\n"
"whatever their order; each defaults to the preset's value.\n"
"Numbers are decimal or hexadecimal after 0x.\n"
"Exit status: 0; 1 when a dmakit call fails (its reason is printed); 2 for\n"
"bad options.\n");
}

enum {
	O_SIZE = 256, O_OFFSET, O_ALIGN, O_HUGE, O_TOUCH, O_NO_TOUCH, O_SPACE, O_LAYOUT, O_SIM_PAGE,
	O_SEED, O_SIM_BASE, O_SIM_SIZE, O_DIR, O_RULES, O_ADDR_LOW, O_ADDR_HIGH, O_MAX_SEG,
	O_MAX_SEGS, O_MAX_TRANSFER, O_BOUNDARY, O_ADDR_ALIGN, O_LEN_ALIGN, O_PAGE, O_PAGE_LIST,
	O_NO_PAGE_LIST, O_BOUNCE, O_FORMAT, O_SGL_LIST, O_VERSION,
};

static uint64_t need_size(const char *opt, const char *arg)
{
	return opt_size_arg(PROG, opt, arg);
}

static void set_rule(struct rule_opt *r, const char *opt, const char *arg)
{
	r->set = true;
	r->v = need_size(opt, arg);
}

static void parse(int argc, char **argv, struct sgl_opts *o)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, O_SIZE },
		{ "offset", required_argument, NULL, O_OFFSET },
		{ "align", required_argument, NULL, O_ALIGN },
		{ "hugepage", optional_argument, NULL, O_HUGE },
		{ "touch", no_argument, NULL, O_TOUCH },
		{ "no-touch", no_argument, NULL, O_NO_TOUCH },
		{ "space", required_argument, NULL, O_SPACE },
		{ "layout", required_argument, NULL, O_LAYOUT },
		{ "sim-page", required_argument, NULL, O_SIM_PAGE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "sim-base", required_argument, NULL, O_SIM_BASE },
		{ "sim-size", required_argument, NULL, O_SIM_SIZE },
		{ "dir", required_argument, NULL, O_DIR },
		{ "rules", required_argument, NULL, O_RULES },
		{ "addr-low", required_argument, NULL, O_ADDR_LOW },
		{ "addr-high", required_argument, NULL, O_ADDR_HIGH },
		{ "max-seg", required_argument, NULL, O_MAX_SEG },
		{ "max-segs", required_argument, NULL, O_MAX_SEGS },
		{ "max-transfer", required_argument, NULL, O_MAX_TRANSFER },
		{ "boundary", required_argument, NULL, O_BOUNDARY },
		{ "addr-align", required_argument, NULL, O_ADDR_ALIGN },
		{ "len-align", required_argument, NULL, O_LEN_ALIGN },
		{ "page", required_argument, NULL, O_PAGE },
		{ "page-list", no_argument, NULL, O_PAGE_LIST },
		{ "no-page-list", no_argument, NULL, O_NO_PAGE_LIST },
		{ "bounce-pool", required_argument, NULL, O_BOUNCE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "sgl-list-size", required_argument, NULL, O_SGL_LIST },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct sgl_opts){
		.size = 64 << 10, .align = 4096, .space = "sim", .layout = DMK_SIM_CONTIG,
		.sim_page = 4096, .seed = 1, .dir = DMK_FROM_DEVICE, .rules = "any",
		.page_list = -1, .sgl_list = 4096,
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SIZE: o->size = need_size("size", optarg); break;
		case O_OFFSET: o->offset = need_size("offset", optarg); break;
		case O_ALIGN: o->align = need_size("align", optarg); break;
		case O_HUGE:
			if (!optarg || !strcmp(optarg, "auto"))
				o->huge = HUGE_AUTO;
			else if (!strcmp(optarg, "hugetlb"))
				o->huge = HUGE_HUGETLB;
			else if (!strcmp(optarg, "thp"))
				o->huge = HUGE_THP;
			else
				opt_usage_error(PROG, "--hugepage='%s': say auto, hugetlb or thp", optarg);
			break;
		case O_TOUCH: o->touch = true; break;
		case O_NO_TOUCH: o->touch = false; break;
		case O_SPACE:
			if (strcmp(optarg, "sim") && strcmp(optarg, "phys"))
				opt_usage_error(PROG, "--space '%s': say sim or phys", optarg);
			o->space = optarg;
			break;
		case O_LAYOUT:
			if (!strcmp(optarg, "contig"))
				o->layout = DMK_SIM_CONTIG;
			else if (!strcmp(optarg, "scattered"))
				o->layout = DMK_SIM_SCATTERED;
			else if (!strcmp(optarg, "reversed"))
				o->layout = DMK_SIM_REVERSED;
			else
				opt_usage_error(PROG, "--layout '%s': say contig, scattered or reversed", optarg);
			break;
		case O_SIM_PAGE: o->sim_page = need_size("sim-page", optarg); break;
		case O_SEED: o->seed = opt_uint_arg(PROG, "seed", optarg); break;
		case O_SIM_BASE: set_rule(&o->sim_base, "sim-base", optarg); break;
		case O_SIM_SIZE: set_rule(&o->sim_size, "sim-size", optarg); break;
		case O_DIR:
			if (!strcmp(optarg, "to"))
				o->dir = DMK_TO_DEVICE;
			else if (!strcmp(optarg, "from"))
				o->dir = DMK_FROM_DEVICE;
			else
				opt_usage_error(PROG, "--dir '%s': say to (the device reads memory) or from (it writes memory)", optarg);
			break;
		case O_RULES: o->rules = optarg; break;
		case O_ADDR_LOW: set_rule(&o->addr_low, "addr-low", optarg); break;
		case O_ADDR_HIGH: set_rule(&o->addr_high, "addr-high", optarg); break;
		case O_MAX_SEG: set_rule(&o->max_seg, "max-seg", optarg); break;
		case O_MAX_SEGS:
			set_rule(&o->max_segs, "max-segs", optarg);
			if (o->max_segs.v > UINT32_MAX)
				opt_usage_error(PROG, "--max-segs '%s': more than %u", optarg, UINT32_MAX);
			break;
		case O_MAX_TRANSFER: set_rule(&o->max_transfer, "max-transfer", optarg); break;
		case O_BOUNDARY: set_rule(&o->boundary, "boundary", optarg); break;
		case O_ADDR_ALIGN: set_rule(&o->addr_align, "addr-align", optarg); break;
		case O_LEN_ALIGN: set_rule(&o->len_align, "len-align", optarg); break;
		case O_PAGE: set_rule(&o->page, "page", optarg); break;
		case O_PAGE_LIST: o->page_list = 1; break;
		case O_NO_PAGE_LIST: o->page_list = 0; break;
		case O_BOUNCE: o->bounce = need_size("bounce-pool", optarg); break;
		case O_FORMAT:
			if (!strcmp(optarg, "prp"))
				o->fmt = FMT_PRP;
			else if (!strcmp(optarg, "sgl"))
				o->fmt = FMT_SGL;
			else if (!strcmp(optarg, "none"))
				o->fmt = FMT_NONE;
			else
				opt_usage_error(PROG, "--format '%s': say prp, sgl or none", optarg);
			break;
		case O_SGL_LIST: o->sgl_list = need_size("sgl-list-size", optarg); break;
		case 'h':
			usage(stdout);
			exit(0);
		case O_VERSION:
			opt_version("dmakit");
			exit(0);
		default:
			opt_getopt_error(PROG, c, argv);
		}
	}
	if (optind < argc)
		opt_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (!o->size)
		opt_usage_error(PROG, "--size must be more than 0");
	if (o->offset + o->size < o->size)
		opt_usage_error(PROG, "--offset + --size overflow");
	if (!o->huge && (o->align < sizeof(void *) || (o->align & (o->align - 1))))
		opt_usage_error(PROG, "--align %" PRIu64 ": posix_memalign needs a power of two, at least %zu",
				o->align, sizeof(void *));
	if (o->sgl_list < 32 || o->sgl_list > 4096 || o->sgl_list % 16)
		opt_usage_error(PROG, "--sgl-list-size %" PRIu64 ": a multiple of 16 from 32 to 4096", o->sgl_list);
	if (!strcmp(o->space, "phys") &&
	    (o->layout != DMK_SIM_CONTIG || o->sim_page != 4096 || o->sim_base.set || o->sim_size.set))
		opt_usage_error(PROG, "--layout, --sim-page, --sim-base and --sim-size are for --space sim");
}

static void build_spec(struct sgl_ctx *c)
{
	struct dmk_dma_spec *s = &c->spec;
	const struct sgl_opts *o = &c->o;

	if (dmk_dma_spec_preset(s, o->rules))
		opt_usage_error(PROG, "--rules: %s", dmk_last_error());
	if (o->addr_low.set) s->addr_low = o->addr_low.v;
	if (o->addr_high.set) s->addr_high = o->addr_high.v;
	if (o->max_seg.set) s->max_seg_size = o->max_seg.v;
	if (o->max_segs.set) s->max_segs = (uint32_t)o->max_segs.v;
	if (o->max_transfer.set) s->max_transfer = o->max_transfer.v;
	if (o->boundary.set) s->boundary = o->boundary.v;
	if (o->addr_align.set) s->addr_align = o->addr_align.v;
	if (o->len_align.set) s->len_align = o->len_align.v;
	if (o->page.set) s->dev_page_size = o->page.v;
	if (o->page_list == 1)
		s->flags |= DMK_SPEC_PAGE_LIST;
	else if (o->page_list == 0)
		s->flags &= ~DMK_SPEC_PAGE_LIST;
	if (dmk_dma_spec_check(s))
		opt_usage_error(PROG, "these DMA rules are inconsistent: %s", dmk_last_error());
	if (c->o.fmt == FMT_AUTO)
		c->o.fmt = !strcmp(o->rules, "nvme-prp") ? FMT_PRP : !strcmp(o->rules, "nvme-sgl") ? FMT_SGL : FMT_NONE;
}

/* AnonHugePages of the mapping holding @addr, in kB, or -1. */
static long thp_kb(const void *addr)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in = false;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* Allocate the buffer; say how. */
static void alloc_buffer(struct sgl_ctx *c)
{
	const struct sgl_opts *o = &c->o;
	uint64_t need = o->offset + o->size;
	char how[256], b1[32], b2[32];
	char *base = NULL;
	int huge_err = 0;

	if (o->huge == HUGE_AUTO || o->huge == HUGE_HUGETLB) {
		uint64_t len = (need + HUGE_2M - 1) & ~(HUGE_2M - 1);
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);

		if (p != MAP_FAILED) {
			base = p;
			snprintf(how, sizeof(how), "mmap MAP_HUGETLB, 2 MiB hugetlbfs pages (%s mapped)",
				 opt_fmt_size(len, b1, sizeof(b1)));
		} else {
			huge_err = errno;
			if (o->huge == HUGE_HUGETLB) {
				fprintf(stderr, PROG ": mmap MAP_HUGETLB of %s: %s (are 2 MiB pages reserved? sysctl vm.nr_hugepages)\n",
					opt_fmt_size(len, b1, sizeof(b1)), strerror(huge_err));
				exit(EXIT_LIB);
			}
		}
	}
	if (!base && o->huge != HUGE_NONE) {
		uint64_t len = ((need + HUGE_2M - 1) & ~(HUGE_2M - 1)) + HUGE_2M;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			fprintf(stderr, PROG ": mmap of %s: %s\n", opt_fmt_size(len, b1, sizeof(b1)), strerror(errno));
			exit(EXIT_LIB);
		}
		base = (char *)(((uintptr_t)p + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
		if (madvise(base, len - HUGE_2M, MADV_HUGEPAGE)) {
			fprintf(stderr, PROG ": madvise MADV_HUGEPAGE: %s (transparent huge pages disabled?)\n",
				strerror(errno));
			exit(EXIT_LIB);
		}
		snprintf(how, sizeof(how), "mmap 2 MiB aligned + madvise MADV_HUGEPAGE (transparent huge pages%s%s)",
			 huge_err ? "; MAP_HUGETLB failed: " : "", huge_err ? strerror(huge_err) : "");
	}
	if (!base) {
		void *p;
		int err = posix_memalign(&p, o->align, need);

		if (err) {
			fprintf(stderr, PROG ": posix_memalign(%s, %s): %s\n", opt_fmt_size(o->align, b1, sizeof(b1)),
				opt_fmt_size(need, b2, sizeof(b2)), strerror(err));
			exit(EXIT_LIB);
		}
		base = p;
		snprintf(how, sizeof(how), "posix_memalign, alignment %" PRIu64, o->align);
	}
	c->va = base + o->offset;
	if (o->touch)
		memset(c->va, 0xa5, o->size);
	printf("buffer:       va %p, length %" PRIu64 " (%s), %s\n", (void *)c->va, o->size,
	       opt_fmt_size(o->size, b1, sizeof(b1)), o->touch ? "touched" : "not touched");
	printf("              allocation %p + offset %" PRIu64 ": %s\n", (void *)base, o->offset, how);
	if (o->huge != HUGE_NONE && strstr(how, "MADV_HUGEPAGE")) {
		long kb = thp_kb(c->va);

		if (!o->touch)
			printf("              THP: nothing faulted yet (not touched); the kernel picks page sizes at first touch\n");
		else if (kb >= 0)
			printf("              THP: %ld kB of this mapping are in huge pages now (AnonHugePages)\n", kb);
	}
}

static void make_space(struct sgl_ctx *c)
{
	const struct sgl_opts *o = &c->o;
	int err;

	if (!strcmp(o->space, "phys")) {
		err = dmk_space_phys_create(&c->sp);
		if (err == -EPERM) {
			fprintf(stderr, PROG ": --space phys needs root (CAP_SYS_ADMIN) to read physical frames: %s\n",
				dmk_last_error());
			exit(EXIT_LIB);
		}
		if (err)
			opt_lib_error(PROG, "dmk_space_phys_create", err);
		printf("space:        phys (physical addresses from /proc/self/pagemap, no IOMMU)\n");
		return;
	}

	struct dmk_sim_config cfg = {
		.page_size = o->sim_page,
		.window_base = UINT64_C(1) << 32,
		.window_size = (UINT64_C(1) << 47) - (UINT64_C(1) << 32),
		.layout = o->layout,
		.seed = o->seed,
	};
	static const char *const lname[] = { "contig", "scattered", "reversed" };

	/* By default the window is what the rules reach, within [4 GiB, 2^47). */
	if (!o->sim_base.set && !o->sim_size.set) {
		uint64_t p = o->sim_page, lo, hi;

		lo = c->spec.addr_low > p ? c->spec.addr_low : p;
		if (c->spec.addr_high >= cfg.window_base && lo < cfg.window_base)
			lo = cfg.window_base;
		lo = (lo + p - 1) & ~(p - 1);
		hi = c->spec.addr_high >= (UINT64_C(1) << 47) ? UINT64_C(1) << 47 : (c->spec.addr_high + 1) & ~(p - 1);
		if (hi > lo) {
			cfg.window_base = lo;
			cfg.window_size = hi - lo;
		}
	}
	if (o->sim_base.set)
		cfg.window_base = o->sim_base.v;
	if (o->sim_size.set)
		cfg.window_size = o->sim_size.v;
	err = dmk_space_sim_create(&cfg, &c->sp);
	if (err == -EINVAL)
		opt_usage_error(PROG, "sim space: %s", dmk_last_error());
	if (err)
		opt_lib_error(PROG, "dmk_space_sim_create", err);
	printf("space:        sim (IOMMU page %" PRIu64 ", layout %s, seed %" PRIu64 ", window [%#" PRIx64 ", %#" PRIx64 "])\n",
	       cfg.page_size, lname[cfg.layout], cfg.seed, cfg.window_base,
	       cfg.window_base + cfg.window_size - 1);
}

static void make_pool(struct sgl_ctx *c)
{
	struct dmk_bounce_stats st;
	char b1[32];
	int err;

	if (!c->o.bounce) {
		printf("bounce pool:  none (a piece that breaks a rule in place fails the prepare)\n");
		return;
	}
	err = dmk_bounce_pool_create(c->sp, &c->spec, c->o.bounce, &c->pool);
	if (err)
		opt_lib_error(PROG, "dmk_bounce_pool_create", err);
	dmk_bounce_pool_stats(c->pool, &st);
	c->pool_ranges = calloc(c->pool->nchunks, sizeof(*c->pool_ranges));
	if (!c->pool_ranges) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EXIT_LIB);
	}
	for (size_t i = 0; i < c->pool->nchunks; i++) {
		uint64_t d = dmki_bounce_dev(c->pool, i);
		struct dev_range *last = c->npool_ranges ? &c->pool_ranges[c->npool_ranges - 1] : NULL;

		if (last && last->hi == d)
			last->hi += c->pool->chunk;
		else
			c->pool_ranges[c->npool_ranges++] = (struct dev_range){ d, d + c->pool->chunk };
	}
	printf("bounce pool:  %s in %" PRIu64 " chunks of %" PRIu64 " bytes, device ranges:",
	       opt_fmt_size(st.size, b1, sizeof(b1)), st.size / st.chunk, st.chunk);
	for (size_t i = 0; i < c->npool_ranges && i < 8; i++)
		printf(" [%#" PRIx64 ", %#" PRIx64 ")", c->pool_ranges[i].lo, c->pool_ranges[i].hi);
	printf("%s\n", c->npool_ranges > 8 ? " ..." : "");
}

static bool in_pool(const struct sgl_ctx *c, const struct dmk_seg *s)
{
	for (size_t i = 0; i < c->npool_ranges; i++)
		if (s->addr >= c->pool_ranges[i].lo && s->addr < c->pool_ranges[i].hi)
			return true;
	return false;
}

/* ---- list pages for PRP lists and SGL segments ------------------------ */

struct list_pages {
	void *mem;
	struct dmk_region *reg;
	struct dmk_list_page *pages;
	size_t n;
	uint64_t bytes;		/* of one page as the format reads it */
};

/* @n list pages of @bytes each, @stride apart, registered for the device to read. */
static void lists_get(struct sgl_ctx *c, struct list_pages *l, size_t n, uint64_t bytes, uint64_t stride)
{
	int err;

	memset(l, 0, sizeof(*l));
	l->bytes = bytes;
	if (!n)
		return;
	if (posix_memalign(&l->mem, stride, n * stride) || !(l->pages = calloc(n, sizeof(*l->pages)))) {
		fprintf(stderr, PROG ": out of memory for list pages\n");
		exit(EXIT_LIB);
	}
	memset(l->mem, 0, n * stride);
	err = dmk_region_register(c->sp, l->mem, n * stride, DMK_PROT_READ, &l->reg);
	if (err)
		opt_lib_error(PROG, "dmk_region_register (list pages)", err);
	l->n = n;
	for (size_t i = 0; i < n; i++) {
		l->pages[i].va = (char *)l->mem + i * stride;
		err = dmk_space_translate(c->sp, l->pages[i].va, &l->pages[i].dev);
		if (err)
			opt_lib_error(PROG, "dmk_space_translate (list page)", err);
	}
}

static void lists_put(struct list_pages *l)
{
	if (l->reg)
		dmk_region_unregister(l->reg);
	free(l->mem);
	free(l->pages);
}

/* The list page the device finds at @dev, or NULL. */
static const struct dmk_list_page *lists_find(const struct list_pages *l, uint64_t dev, size_t *idx)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->pages[i].dev == dev) {
			*idx = i;
			return &l->pages[i];
		}
	return NULL;
}

/* Print entries e[0..n) of a PRP list, runs of consecutive pages on one line. */
static void print_prp_entries(const uint64_t *e, size_t n, uint64_t ps, size_t first_index)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i + 1;

		while (j < n && le64toh(e[j]) == le64toh(e[j - 1]) + ps)
			j++;
		if (j - i >= 3)
			printf("        [%4zu..%4zu] %#018" PRIx64 " .. %#018" PRIx64 "  (%zu consecutive pages)\n",
			       first_index + i, first_index + j - 1, le64toh(e[i]), le64toh(e[j - 1]), j - i);
		else
			for (size_t k = i; k < j; k++)
				printf("        [%4zu]       %#018" PRIx64 "\n", first_index + k, le64toh(e[k]));
		i = j;
	}
}

static void show_prp(struct sgl_ctx *c, const struct dmk_seg *segs, size_t n, uint64_t covered)
{
	uint64_t ps = c->spec.dev_page_size, prp[2], pages, dev;
	size_t need = dmk_nvme_prp_pages_needed(segs, n, ps), used, idx, index = 1;
	struct list_pages l;
	int err;

	lists_get(c, &l, need, ps, ps < 4096 ? 4096 : ps);
	err = dmk_nvme_prp_write(segs, n, ps, l.pages, l.n, prp, &used);
	if (err)
		opt_lib_error(PROG, "dmk_nvme_prp_write", err);
	pages = ((prp[0] & (ps - 1)) + covered + ps - 1) / ps;
	printf("    NVMe PRP (memory page %" PRIu64 "): PRP1 %#018" PRIx64 "  PRP2 %#018" PRIx64 "  (%" PRIu64 " pages, %zu list page%s)\n",
	       ps, prp[0], prp[1], pages, used, used == 1 ? "" : "s");
	printf("      PRP1 %#018" PRIx64 ": page %#" PRIx64 " + offset %#" PRIx64 ", %" PRIu64 " bytes\n", prp[0],
	       prp[0] & ~(ps - 1), prp[0] & (ps - 1),
	       covered < ps - (prp[0] & (ps - 1)) ? covered : ps - (prp[0] & (ps - 1)));
	if (pages == 1) {
		printf("      PRP2 %#018" PRIx64 ": not used, the transfer ends in PRP1's page\n", prp[1]);
		goto out;
	}
	if (pages == 2) {
		printf("      PRP2 %#018" PRIx64 ": the second (last) page, %" PRIu64 " bytes\n", prp[1],
		       covered - (ps - (prp[0] & (ps - 1))));
		goto out;
	}
	printf("      PRP2 %#018" PRIx64 ": a PRP list of %" PRIu64 " entries\n", prp[1], pages - 1);
	/* Walk the list as a controller does: per slots a page, the last chains on. */
	uint64_t left = pages - 1, per = ps / 8;

	dev = prp[1];
	while (left) {
		const struct dmk_list_page *pg = lists_find(&l, dev, &idx);
		uint64_t k = left > per ? per - 1 : left;
		const uint64_t *e;

		if (!pg) {
			printf("      !! list pointer %#" PRIx64 " is not one of the list pages\n", dev);
			break;
		}
		e = pg->va;
		printf("      list page %zu at %#" PRIx64 ":\n", idx, dev);
		print_prp_entries(e, k, ps, index);
		index += k;
		left -= k;
		if (left) {
			dev = le64toh(e[per - 1]);
			printf("        [slot %" PRIu64 "] -> next list page %#018" PRIx64 "\n", per - 1, dev);
		}
	}
out:
	lists_put(&l);
}

static const char *sgl_type(unsigned t)
{
	static const char *const names[] = {
		"Data Block", "Bit Bucket", "Segment", "Last Segment", "Keyed Data Block",
		"Transport Data Block",
	};

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "reserved type";
}

static void sgl_desc(const uint8_t *d, uint64_t *addr, uint32_t *len, unsigned *type, unsigned *sub)
{
	uint64_t a;
	uint32_t n;

	memcpy(&a, d, 8);
	memcpy(&n, d + 8, 4);
	*addr = le64toh(a);
	*len = le32toh(n);
	*type = d[15] >> 4;
	*sub = d[15] & 0xf;
}

static void print_sgl_desc(const char *indent, const char *label, const uint8_t *d)
{
	uint64_t addr;
	uint32_t len;
	unsigned type, sub;

	sgl_desc(d, &addr, &len, &type, &sub);
	printf("%s%s%-12s addr %#018" PRIx64 "  len %10" PRIu32 "%s%s\n", indent, label, sgl_type(type), addr, len,
	       sub ? "  subtype " : "", sub ? "nonzero" : "");
}

static void show_sgl(struct sgl_ctx *c, const struct dmk_seg *segs, size_t n)
{
	size_t need = dmk_nvme_sgl_pages_needed(n, c->o.sgl_list), used, idx;
	struct list_pages l;
	uint8_t sgl1[16];
	uint64_t addr;
	uint32_t len;
	unsigned type, sub, seg_no = 0;
	int err;

	lists_get(c, &l, need, c->o.sgl_list, 4096);
	err = dmk_nvme_sgl_write(segs, n, c->o.sgl_list, l.pages, l.n, sgl1, &used);
	if (err)
		opt_lib_error(PROG, "dmk_nvme_sgl_write", err);
	printf("    NVMe SGL (list size %" PRIu64 "): %zu list page%s\n", c->o.sgl_list, used, used == 1 ? "" : "s");
	printf("      SGL1 bytes:");
	for (int i = 0; i < 16; i++)
		printf(" %02x", sgl1[i]);
	printf("\n");
	print_sgl_desc("      ", "SGL1 ", sgl1);
	sgl_desc(sgl1, &addr, &len, &type, &sub);
	/* Follow Segment / Last Segment pointers as a controller does. */
	while (type == DMK_NVME_SGL_SEGMENT || type == DMK_NVME_SGL_LAST_SEGMENT) {
		const struct dmk_list_page *pg = lists_find(&l, addr, &idx);
		unsigned ptype = type;
		const uint8_t *d;
		size_t nd = len / 16;

		if (!pg || len % 16 || len > l.bytes) {
			printf("      !! pointer to %#" PRIx64 " (%" PRIu32 " bytes) is not a list page\n", addr, len);
			break;
		}
		d = pg->va;
		printf("      SGL segment %u (list page %zu at %#" PRIx64 ", %zu descriptors%s):\n", seg_no++, idx, addr, nd,
		       ptype == DMK_NVME_SGL_LAST_SEGMENT ? ", the last segment" : "");
		type = DMK_NVME_SGL_DATA_BLOCK;
		for (size_t i = 0; i < nd; i++) {
			char label[16];

			snprintf(label, sizeof(label), "[%3zu] ", i);
			print_sgl_desc("        ", label, d + 16 * i);
			if (i + 1 == nd)
				sgl_desc(d + 16 * i, &addr, &len, &type, &sub);
		}
		if (ptype == DMK_NVME_SGL_LAST_SEGMENT)
			break;
	}
	lists_put(&l);
}

/* ---- the command ------------------------------------------------------ */

int cmd_sgl(int argc, char **argv)
{
	struct sgl_ctx c = { 0 };
	struct dmk_region_info ri;
	struct dmk_region *reg;
	struct dmk_mem *mem;
	struct dmk_dma *dma;
	struct iovec iov;
	uint64_t off = 0, bounced = 0;
	size_t total_segs = 0, ncmd = 0;
	char line[512], b1[32], b2[32];
	int err;

	parse(argc, argv, &c.o);
	build_spec(&c);

	alloc_buffer(&c);
	dmk_dma_spec_format(&c.spec, line, sizeof(line));
	printf("rules:        %s: %s\n", c.o.rules, line);
	printf("direction:    %s\n", c.o.dir == DMK_TO_DEVICE ? "to device (the device reads memory)" :
						 "from device (the device writes memory)");
	make_space(&c);

	err = dmk_region_register(c.sp, c.va, c.o.size, c.o.dir == DMK_TO_DEVICE ? DMK_PROT_READ : DMK_PROT_WRITE,
				  &reg);
	if (err)
		opt_lib_error(PROG, "dmk_region_register", err);
	dmk_region_info(reg, &ri);
	printf("registration: va %p + %zu; pinned %p + %zu (%s); %zu device-contiguous run%s; device may %s\n",
	       ri.va, ri.len, ri.pinned_va, ri.pinned_len, opt_fmt_size(ri.pinned_len, b1, sizeof(b1)),
	       ri.dev_runs, ri.dev_runs == 1 ? "" : "s",
	       ri.prot == DMK_PROT_RW ? "read and write" : ri.prot & DMK_PROT_WRITE ? "write" : "read");

	make_pool(&c);
	err = dmk_dma_create(c.sp, &c.spec, c.pool, &dma);
	if (err)
		opt_lib_error(PROG, "dmk_dma_create", err);
	iov = (struct iovec){ c.va, c.o.size };
	err = dmk_mem_create(&iov, 1, c.o.dir, &mem);
	if (err)
		opt_lib_error(PROG, "dmk_mem_create", err);

	while (off < c.o.size) {
		const struct dmk_seg *segs;
		struct dmk_dma_info info;
		uint64_t covered, x = 0;
		size_t n, marked = 0;

		err = dmk_dma_prepare(dma, mem, off, c.o.size - off, &covered);
		if (err) {
			snprintf(line, sizeof(line), "dmk_dma_prepare (command %zu, bytes %" PRIu64 "..%" PRIu64 ")",
				 ncmd, off, c.o.size);
			opt_lib_error(PROG, line, err);
		}
		segs = dmk_dma_segs(dma, &n);
		dmk_dma_info(dma, &info);
		printf("\ncommand %zu: bytes [%" PRIu64 ", %" PRIu64 ") of the buffer, covered %" PRIu64 " (%s) in %zu segment%s",
		       ncmd, off, off + covered, covered, opt_fmt_size(covered, b1, sizeof(b1)), n, n == 1 ? "" : "s");
		if (info.bounced)
			printf(", %" PRIu64 " bytes bounced in %zu segment%s", info.bounced, info.bounce_segs,
			       info.bounce_segs == 1 ? "" : "s");
		printf(", %zu registration%s held\n", info.regions, info.regions == 1 ? "" : "s");
		for (size_t i = 0; i < n; i++) {
			bool b = in_pool(&c, &segs[i]);

			marked += b;
			printf("  seg %4zu  dev %#018" PRIx64 "  len %10" PRIu64 " %-10s  buf+%#" PRIx64 "%s\n", i,
			       segs[i].addr, segs[i].len, opt_fmt_size(segs[i].len, b2, sizeof(b2)), off + x,
			       b ? "  bounce pool" : "");
			x += segs[i].len;
		}
		if (marked != info.bounce_segs)
			printf("  (dmk_dma_info counts %zu bounce segments; %zu lie in the pool's device ranges)\n",
			       info.bounce_segs, marked);
		if (x != covered)
			printf("  !! segments add up to %" PRIu64 " bytes, covered says %" PRIu64 "\n", x, covered);
		if (c.o.fmt == FMT_PRP)
			show_prp(&c, segs, n, covered);
		else if (c.o.fmt == FMT_SGL)
			show_sgl(&c, segs, n);
		err = dmk_dma_complete(dma);
		if (err)
			opt_lib_error(PROG, "dmk_dma_complete", err);
		if (!covered) {
			fprintf(stderr, PROG ": the prepare covered nothing at byte %" PRIu64 "\n", off);
			return EXIT_LIB;
		}
		total_segs += n;
		bounced += info.bounced;
		off += covered;
		ncmd++;
	}
	printf("\ntotal: %" PRIu64 " bytes (%s) in %zu command%s, %zu segment%s, %" PRIu64 " bytes bounced\n", off,
	       opt_fmt_size(off, b1, sizeof(b1)), ncmd, ncmd == 1 ? "" : "s", total_segs, total_segs == 1 ? "" : "s",
	       bounced);

	dmk_mem_destroy(mem);
	dmk_dma_destroy(dma);
	if (c.pool && (err = dmk_bounce_pool_destroy(c.pool)))
		opt_lib_error(PROG, "dmk_bounce_pool_destroy", err);
	if ((err = dmk_region_unregister(reg)))
		opt_lib_error(PROG, "dmk_region_unregister", err);
	if ((err = dmk_space_destroy(c.sp)))
		opt_lib_error(PROG, "dmk_space_destroy", err);
	free(c.pool_ranges);
	return 0;
}
