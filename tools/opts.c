/* SPDX-License-Identifier: MIT */
/* dmakit tool: option parsing helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dmakit/error.h>

#include "opts.h"

int opt_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int opt_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *name;
		unsigned shift;
	} suffixes[] = {
		{ "", 0 }, { "b", 0 },
		{ "k", 10 }, { "kib", 10 }, { "m", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gib", 30 }, { "t", 40 }, { "tib", 40 },
	};
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcasecmp(end, suffixes[i].name))
			continue;
		if (suffixes[i].shift && v > (UINT64_MAX >> suffixes[i].shift))
			return -1;
		*out = (uint64_t)v << suffixes[i].shift;
		return 0;
	}
	return -1;
}

void opt_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	exit(EXIT_USAGE);
}

void opt_lib_error(const char *prog, const char *what, int err)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, dmk_last_error(), strerror(err < 0 ? -err : err));
	exit(EXIT_LIB);
}

const char *opt_fmt_size(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (u < 4 && n >= (UINT64_C(1024) << (10 * u)))
		u++;
	if (!u)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else if (!(n & ((UINT64_C(1) << (10 * u)) - 1)))
		snprintf(buf, len, "%llu %s", (unsigned long long)(n >> (10 * u)), unit[u]);
	else
		/* truncated, so that 4095 bytes do not read as 4.00 KiB */
		snprintf(buf, len, "%.2f %s",
			 (double)(n * 100 >> (10 * u)) / 100.0, unit[u]);
	return buf;
}
