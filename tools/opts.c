/* SPDX-License-Identifier: MIT */
/*
 * dmakit's tools: checked option values (numbers, byte counts, modes, PCI
 * addresses), the messages of a refusal, and the version. The option
 * tables, getopt_long and --help are in opts_parse.c.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dmakit/error.h>

#include "dmakit_version.h"
#include "opts.h"

#define SIZE_EXAMPLES "e.g. 4096, 0x1000, 64K, 1M"

static int digit(char c, unsigned base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The number at the start of @s, decimal or 0x hexadecimal, *end after its
 * last digit. 0; -EINVAL when @s starts with no digit (a sign, a space) or
 * with a 0 followed by a digit (octal to strtoull(), decimal to a reader:
 * refused, not guessed); -ERANGE past 2^64 - 1.
 */
static int scan_u64(const char *s, uint64_t *out, const char **end)
{
	unsigned base = 10;
	uint64_t v = 0;
	int d;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && digit(s[1], 10) >= 0) {
		return -EINVAL;
	}
	if (digit(*s, base) < 0)
		return -EINVAL;
	for (; (d = digit(*s, base)) >= 0; s++) {
		if (v > (UINT64_MAX - (unsigned)d) / base)
			return -ERANGE;
		v = v * base + (unsigned)d;
	}
	*out = v;
	*end = s;
	return 0;
}

/* The shift of byte-count suffix @s ("", "K", "MiB", ...), or -1. */
static int size_shift(const char *s)
{
	static const struct {
		const char *name;
		int shift;
	} suffixes[] = {
		{ "", 0 }, { "b", 0 },
		{ "k", 10 }, { "kib", 10 }, { "m", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gib", 30 }, { "t", 40 }, { "tib", 40 },
	};

	for (size_t i = 0; i < OPT_COUNT(suffixes); i++)
		if (!strcasecmp(s, suffixes[i].name))
			return suffixes[i].shift;
	return -1;
}

int opt_number(const char *s, enum opt_type type, uint64_t min, uint64_t max, unsigned flags,
	       uint64_t *out, char *why, size_t wl)
{
	const char *what = type == OPT_SIZE ? "not a byte count (" SIZE_EXAMPLES ")"
					    : "not a number (decimal, or hexadecimal after 0x)";
	const char *end;
	uint64_t v;
	int rc, shift = 0;

	if (!s || !*s) {
		snprintf(why, wl, "empty");
		return -1;
	}
	rc = scan_u64(s, &v, &end);
	if (rc == -ERANGE) {
		snprintf(why, wl, "more than 2^64 - 1");
		return -1;
	}
	if (!rc && type == OPT_SIZE)
		shift = size_shift(end);
	else if (!rc && *end)
		shift = -1;
	if (rc || shift < 0) {
		snprintf(why, wl, "%s%s", what,
			 s[0] == '0' && digit(s[1], 10) >= 0 ? "; no leading 0" : "");
		return -1;
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		snprintf(why, wl, "more than 2^64 - 1 bytes");
		return -1;
	}
	v <<= shift;
	if (v < min || v > max) {
		snprintf(why, wl, "%s %" PRIu64, v < min ? "less than" : "more than", v < min ? min : max);
		return -1;
	}
	if ((flags & OPT_POW2) && (!v || (v & (v - 1)))) {
		snprintf(why, wl, "not a power of two");
		return -1;
	}
	*out = v;
	return 0;
}

int opt_mode(const char *s, unsigned *out, char *why, size_t wl)
{
	unsigned v = 0;

	if (!*s) {
		snprintf(why, wl, "empty");
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '7') {
			snprintf(why, wl, "not an octal mode (digits 0 to 7, e.g. 0660)");
			return -1;
		}
		if (v > 0777) /* no overflow, however many digits */
			continue;
		v = v * 8 + (unsigned)(*p - '0');
	}
	if (v > 0777) {
		snprintf(why, wl, "more than 0777 (setuid, setgid and sticky bits mean nothing here)");
		return -1;
	}
	if (!(v & 0200)) {
		snprintf(why, wl, "no u+w (0200): the owner could not write (connect to) it");
		return -1;
	}
	*out = v;
	return 0;
}

int opt_parse_u64(const char *s, uint64_t *out)
{
	char why[128];

	return opt_number(s, OPT_UINT, 0, UINT64_MAX, 0, out, why, sizeof(why));
}

int opt_parse_size(const char *s, uint64_t *out)
{
	char why[128];

	return opt_number(s, OPT_SIZE, 0, UINT64_MAX, 0, out, why, sizeof(why));
}

static uint64_t number_arg(const char *prog, const char *name, enum opt_type type, const char *arg)
{
	char why[128];
	uint64_t v;

	if (opt_number(arg, type, 0, UINT64_MAX, 0, &v, why, sizeof(why)))
		opt_usage_error(prog, "--%s '%s': %s", name, arg, why);
	return v;
}

uint64_t opt_size_arg(const char *prog, const char *name, const char *arg)
{
	return number_arg(prog, name, OPT_SIZE, arg);
}

uint64_t opt_uint_arg(const char *prog, const char *name, const char *arg)
{
	return number_arg(prog, name, OPT_UINT, arg);
}

bool opt_is_bdf(const char *s)
{
	static const char form[] = "xxxx:xx:xx.x";

	if (strlen(s) != sizeof(form) - 1)
		return false;
	for (size_t i = 0; form[i]; i++)
		if (form[i] == 'x' ? !isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')
				   : s[i] != form[i])
			return false;
	/* a device number is 5 bits, a function 3 */
	return strtoul(s + 8, NULL, 16) <= 0x1f && s[11] <= '7';
}

void opt_getopt_error(const char *prog, int c, char **argv)
{
	const char *arg = argv[optind - 1], *eq = strchr(arg, '=');

	if (c == ':')
		opt_usage_error(prog, "option '%s' needs a value", arg);
	if (optopt > 0 && optopt < 128 && isprint(optopt))
		opt_usage_error(prog, "unknown option '-%c'", optopt);
	/* getopt_long names the option in optopt when it was given a value it
	 * does not take, and leaves it 0 when no option has that name */
	if (optopt && !strncmp(arg, "--", 2) && eq)
		opt_usage_error(prog, "option '%.*s' takes no value", (int)(eq - arg), arg);
	opt_usage_error(prog, "unknown option '%s'", arg);
}

void opt_version(const char *prog)
{
	printf("%s (dmakit) %s\n", prog, DMK_VERSION);
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
