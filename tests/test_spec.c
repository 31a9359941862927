/* SPDX-License-Identifier: MIT */
/* DMA rules (include/dmakit/spec.h): defaults, presets, consistency, format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <dmakit/error.h>
#include <dmakit/spec.h>

/* The failure is -EINVAL and dmk_last_error() mentions @word. */
#define assert_refused(spec, word)                                                  \
	do {                                                                         \
		assert_int_equal(dmk_dma_spec_check(spec), -EINVAL);                 \
		if (!strstr(dmk_last_error(), (word)))                               \
			fail_msg("reason '%s' does not name '%s'", dmk_last_error(), (word)); \
	} while (0)

static void test_init_allows_anything(void **state)
{
	struct dmk_dma_spec s;

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	dmk_dma_spec_init(&s);
	assert_int_equal(s.addr_low, 0);
	assert_true(s.addr_high == UINT64_MAX);
	assert_int_equal(s.max_seg_size, 0);
	assert_int_equal(s.max_segs, 0);
	assert_int_equal(s.max_transfer, 0);
	assert_int_equal(s.boundary, 0);
	assert_int_equal(s.addr_align, 1);
	assert_int_equal(s.len_align, 1);
	assert_int_equal(s.dev_page_size, 4096);
	assert_int_equal(s.flags, 0);
	assert_int_equal(dmk_dma_spec_check(&s), 0);
}

static void test_presets(void **state)
{
	struct dmk_dma_spec s, any;

	(void)state;
	dmk_dma_spec_init(&any);

	memset(&s, 0, sizeof(s));
	assert_int_equal(dmk_dma_spec_preset(&s, "any"), 0);
	assert_memory_equal(&s, &any, sizeof(s));

	assert_int_equal(dmk_dma_spec_preset(&s, "nvme-prp"), 0);
	assert_int_equal(s.addr_align, 4);
	assert_int_equal(s.len_align, 4);
	assert_int_equal(s.dev_page_size, 4096);
	assert_int_equal(s.flags, DMK_SPEC_PAGE_LIST);
	assert_int_equal(s.addr_low, 0);
	assert_true(s.addr_high == UINT64_MAX);
	assert_int_equal(dmk_dma_spec_check(&s), 0);

	assert_int_equal(dmk_dma_spec_preset(&s, "nvme-sgl"), 0);
	assert_int_equal(s.addr_align, 1);
	assert_int_equal(s.len_align, 1);
	assert_int_equal(s.flags, 0);
	assert_int_equal(dmk_dma_spec_check(&s), 0);

	assert_int_equal(dmk_dma_spec_preset(&s, "edu"), 0);
	assert_int_equal(s.addr_low, 0);
	assert_int_equal(s.addr_high, (UINT64_C(1) << 28) - 1);
	assert_int_equal(s.flags, 0);
	assert_int_equal(dmk_dma_spec_check(&s), 0);
}

/*
 * spec.h: "edu" (QEMU's edu device: 28-bit reach, at most 4095 bytes a
 * transfer). The preset bounds each segment (one edu DMA) to 4095 bytes;
 * the design has the edu driver do scatter-gather in software, one edu
 * transfer a segment, so max_transfer stays 0 and the header's "a transfer"
 * means a segment.
 */
static void test_preset_edu_limits(void **state)
{
	struct dmk_dma_spec s;

	(void)state;
	assert_int_equal(dmk_dma_spec_preset(&s, "edu"), 0);
	assert_int_equal(s.max_seg_size, 4095);
	assert_int_equal(s.addr_high, (UINT64_C(1) << 28) - 1);
	assert_int_equal(s.max_segs, 0);
	assert_int_equal(s.max_transfer, 0);
}

static void test_preset_unknown_leaves_spec(void **state)
{
	struct dmk_dma_spec s, before;

	(void)state;
	memset(&s, 0x5a, sizeof(s));
	before = s;
	assert_int_equal(dmk_dma_spec_preset(&s, "nvme"), -ENOENT);
	assert_memory_equal(&s, &before, sizeof(s));
	assert_non_null(strstr(dmk_last_error(), "nvme"));
	assert_int_equal(dmk_dma_spec_preset(&s, ""), -ENOENT);
	assert_int_equal(dmk_dma_spec_preset(&s, "NVME-PRP"), -ENOENT);
	assert_int_equal(dmk_dma_spec_preset(&s, NULL), -ENOENT);
	assert_memory_equal(&s, &before, sizeof(s));
}

static void test_check_refuses(void **state)
{
	struct dmk_dma_spec s;

	(void)state;
	assert_int_equal(dmk_dma_spec_check(NULL), -EINVAL);

	dmk_dma_spec_init(&s);
	s.flags = 1u << 5;
	assert_refused(&s, "flags");

	dmk_dma_spec_init(&s);
	s.addr_low = 0x2000;
	s.addr_high = 0x1fff;
	assert_refused(&s, "empty");

	dmk_dma_spec_init(&s);
	s.addr_align = 3;
	assert_refused(&s, "address alignment 3 is not a power of two");
	s.addr_align = 0;
	assert_refused(&s, "address alignment 0 is not a power of two");

	dmk_dma_spec_init(&s);
	s.len_align = 6;
	assert_refused(&s, "length alignment 6 is not a power of two");
	s.len_align = 0;
	assert_refused(&s, "length alignment");

	dmk_dma_spec_init(&s);
	s.dev_page_size = 0;
	assert_refused(&s, "device page size");
	s.dev_page_size = 12288;
	assert_refused(&s, "device page size 12288 is not a power of two");

	dmk_dma_spec_init(&s);
	s.boundary = 0x3000;
	assert_refused(&s, "boundary");
	assert_refused(&s, "power of two");

	dmk_dma_spec_init(&s);
	s.addr_align = 512;
	s.boundary = 256;
	assert_refused(&s, "boundary");
	assert_refused(&s, "smaller than the alignment");
	s.boundary = 512;
	assert_int_equal(dmk_dma_spec_check(&s), 0);

	/* An alignment larger than the largest segment or transfer. */
	dmk_dma_spec_init(&s);
	s.len_align = 512;
	s.max_seg_size = 511;
	assert_refused(&s, "max segment size");
	s.max_seg_size = 512;
	assert_int_equal(dmk_dma_spec_check(&s), 0);
	s.max_transfer = 256;
	assert_refused(&s, "max transfer");
	s.max_transfer = 768;	/* not a multiple of the length alignment */
	assert_refused(&s, "max transfer");
	assert_refused(&s, "multiple");
	s.max_transfer = 1024;
	assert_int_equal(dmk_dma_spec_check(&s), 0);

	/* A window with no aligned unit in it. */
	dmk_dma_spec_init(&s);
	s.addr_align = 4096;
	s.addr_low = 0x1001;
	s.addr_high = 0x1fff;
	assert_refused(&s, "holds no aligned segment");
	s.addr_high = 0x2000;
	assert_int_equal(dmk_dma_spec_check(&s), 0);
	/* Aligning the low end up wraps. */
	s.addr_low = UINT64_MAX - 10;
	s.addr_high = UINT64_MAX;
	assert_refused(&s, "holds no aligned segment");
	/* Room for the address but not for one length unit. */
	dmk_dma_spec_init(&s);
	s.len_align = 16;
	s.addr_low = 0x100;
	s.addr_high = 0x10e;
	assert_refused(&s, "holds no aligned segment");
	s.addr_high = 0x10f;
	assert_int_equal(dmk_dma_spec_check(&s), 0);
}

static void test_check_page_list(void **state)
{
	struct dmk_dma_spec s;

	(void)state;
	assert_int_equal(dmk_dma_spec_preset(&s, "nvme-prp"), 0);
	s.addr_align = 8192;
	assert_refused(&s, "page-list");
	assert_refused(&s, "device page 4096 is smaller than the alignment 8192");

	assert_int_equal(dmk_dma_spec_preset(&s, "nvme-prp"), 0);
	s.max_seg_size = 2048;
	assert_refused(&s, "page-list rule: max segment size");
	s.max_seg_size = 4096;
	assert_int_equal(dmk_dma_spec_check(&s), 0);

	assert_int_equal(dmk_dma_spec_preset(&s, "nvme-prp"), 0);
	s.boundary = 2048;
	assert_refused(&s, "page-list rule: boundary");
	s.boundary = 4096;
	assert_int_equal(dmk_dma_spec_check(&s), 0);

	/* Without the flag the same values are fine. */
	s.flags = 0;
	s.boundary = 2048;
	s.max_seg_size = 2048;
	assert_int_equal(dmk_dma_spec_check(&s), 0);
}

static void test_format(void **state)
{
	struct dmk_dma_spec s;
	char buf[512], small[16];
	int n;

	(void)state;
	assert_int_equal(dmk_dma_spec_preset(&s, "nvme-prp"), 0);
	s.boundary = 0x10000;
	s.max_segs = 7;
	n = dmk_dma_spec_format(&s, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "window=[0,0xffffffffffffffff] max_seg=0 max_segs=7 max_transfer=0 "
				 "boundary=0x10000 addr_align=4 len_align=4 page=4096 page-list");

	/* Truncated like snprintf: NUL-terminated, returns the full length. */
	memset(small, 'x', sizeof(small));
	assert_int_equal(dmk_dma_spec_format(&s, small, sizeof(small)), n);
	assert_int_equal(small[sizeof(small) - 1], '\0');
	assert_memory_equal(small, buf, sizeof(small) - 1);
	assert_int_equal(dmk_dma_spec_format(&s, NULL, 0), n);
	small[0] = 'x';
	assert_int_equal(dmk_dma_spec_format(&s, small, 1), n);
	assert_int_equal(small[0], '\0');

	dmk_dma_spec_init(&s);
	n = dmk_dma_spec_format(&s, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_null(strstr(buf, "page-list"));
}

static void test_last_error_kept_on_success(void **state)
{
	struct dmk_dma_spec s;
	char copy[256];

	(void)state;
	dmk_dma_spec_init(&s);
	s.boundary = 3;
	assert_int_equal(dmk_dma_spec_check(&s), -EINVAL);
	snprintf(copy, sizeof(copy), "%s", dmk_last_error());
	assert_true(strlen(copy) > 0);
	/* Success does not clear it. */
	dmk_dma_spec_init(&s);
	assert_int_equal(dmk_dma_spec_check(&s), 0);
	assert_string_equal(dmk_last_error(), copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_allows_anything),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_preset_edu_limits),
		cmocka_unit_test(test_preset_unknown_leaves_spec),
		cmocka_unit_test(test_check_refuses),
		cmocka_unit_test(test_check_page_list),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_last_error_kept_on_success),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
