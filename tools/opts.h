/* SPDX-License-Identifier: MIT */
/*
 * dmakit's tools (dmakit, dmakitd, dmakit-bind): one way to read options.
 *
 * A tool describes its options in a table of struct opt_def, each naming
 * the variable it sets; opt_parse() reads them with getopt_long, checks
 * every value in full (a number is digits only, in range, no overflow; a
 * mode is octal, 0 to 0777) and refuses a bad one with a message naming the
 * option and the value, exit status 2. --help lists every option of the
 * table with its default (the variable's value before parsing, or the
 * definition's text); --version prints the project's version.
 *
 *	unsigned entries = 256;
 *	const struct opt_def defs[] = {
 *		{ .name = "ring-entries", .type = OPT_UINT, OPT_TO(entries),
 *		  .arg = "N", .help = "most entries of a ring", .min = 1, .max = 4096,
 *		  .flags = OPT_POW2 },
 *	};
 *	const struct opt_tool tool = { "prog", "[options]", "What it does.", NULL,
 *				       defs, OPT_COUNT(defs) };
 *	int first_operand = opt_parse(&tool, argc, argv);
 */
#ifndef DMAKIT_TOOL_OPTS_H
#define DMAKIT_TOOL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of the tools. */
#define EXIT_USAGE 2	/* bad options */
#define EXIT_LIB 1	/* a library call failed */

/*
 * enum opt_type - what an option takes, and what it stores
 * @OPT_FLAG: no value; the bool is set to true.
 * @OPT_STR: a string, not empty, at most @max bytes when @max is set; the
 *	const char * points into argv.
 * @OPT_UINT: a number: decimal or 0x hexadecimal, digits only.
 * @OPT_SIZE: a byte count: a number with an optional binary suffix K, M,
 *	G, T (KiB, MiB, GiB, TiB; case-insensitive).
 * @OPT_MODE: permission bits in octal, 0 to 0777, with u+w (0200): the
 *	owner may write the file (for a socket: connect to it).
 */
enum opt_type { OPT_FLAG, OPT_STR, OPT_UINT, OPT_SIZE, OPT_MODE };

/* opt_def.flags */
#define OPT_POW2 1u	/* OPT_UINT, OPT_SIZE: a power of two */

/*
 * struct opt_def - one option of a tool
 * @name: the long name, without "--".
 * @key: its short letter ('n' for -n), or 0.
 * @type: what it takes.
 * @dest: the variable it sets: bool, const char *, or an unsigned integer
 *	type (OPT_UINT, OPT_SIZE, OPT_MODE) of @size bytes; OPT_TO() fills both.
 * @size: sizeof(*@dest).
 * @arg: the value's name in --help ("BYTES").
 * @help: what it does, one sentence without the default.
 * @def: the default as --help says it; NULL: the value of *@dest before
 *	parsing; "": none is said (--help, an option that must be chosen).
 * @min: smallest value (numbers).
 * @max: largest value (numbers; 0: the largest *@dest holds), or longest
 *	string (OPT_STR; 0: any).
 * @flags: OPT_POW2.
 */
struct opt_def {
	const char *name;
	int key;
	enum opt_type type;
	void *dest;
	size_t size;
	const char *arg;
	const char *help;
	const char *def;
	uint64_t min, max;
	unsigned flags;
};

#define OPT_TO(v) .dest = &(v), .size = sizeof(v)
#define OPT_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * struct opt_tool - a tool's command line
 * @prog: its name, first in every message.
 * @synopsis: what follows "usage: PROG " ("[options] BDF...").
 * @about: what it does, printed by --help after the usage line.
 * @after: printed by --help after the options (operands, exit status), or
 *	NULL.
 * @defs: its options; -h/--help and --version are added.
 * @ndefs: how many.
 */
struct opt_tool {
	const char *prog;
	const char *synopsis;
	const char *about;
	const char *after;
	const struct opt_def *defs;
	size_t ndefs;
};

/*
 * opt_parse() - read @argv's options into the variables of @t's table
 *
 * Options and operands may be mixed; "--" ends the options. --help prints
 * the usage, @t->about, every option with its default and @t->after to
 * stdout, --version the version; each then exits 0. A bad value, an
 * unknown option or a missing value prints why, naming the option and the
 * value, and exits 2.
 *
 * Return: the index in @argv of the first operand (@argc when none).
 */
int opt_parse(const struct opt_tool *t, int argc, char **argv);

/* opt_version() - print "PROG (dmakit) VERSION" to stdout. */
void opt_version(const char *prog);

/*
 * opt_number() - check @s as a number of @type (OPT_UINT or OPT_SIZE) from
 * @min to @max, a power of two too with OPT_POW2 in @flags
 * Return: 0 with *@out set; -1 with what is wrong in @why ("not a number",
 * "more than 1000000").
 */
int opt_number(const char *s, enum opt_type type, uint64_t min, uint64_t max, unsigned flags,
	       uint64_t *out, char *why, size_t wl);

/*
 * opt_mode() - check @s as OPT_MODE permission bits
 * Return: 0 with *@out set; -1 with what is wrong in @why.
 */
int opt_mode(const char *s, unsigned *out, char *why, size_t wl);

/*
 * opt_parse_u64() - a number: decimal or 0x hexadecimal, the whole string
 * Return: 0, or -1 when @s is not one or does not fit in 64 bits.
 */
int opt_parse_u64(const char *s, uint64_t *out);

/*
 * opt_parse_size() - a byte count with an optional binary suffix K, M, G, T
 * (also KiB, MiB, GiB, TiB; case-insensitive), e.g. "4K", "1M", "0x1000".
 * Return: 0, or -1 when malformed or overflowing.
 */
int opt_parse_size(const char *s, uint64_t *out);

/*
 * opt_size_arg() - the byte count @arg of option --@name, or a message
 * naming both and exit 2 (for tools that run getopt_long themselves);
 * opt_uint_arg() the same for a number.
 */
uint64_t opt_size_arg(const char *prog, const char *name, const char *arg);
uint64_t opt_uint_arg(const char *prog, const char *name, const char *arg);

/*
 * opt_getopt_error() - exit 2 after what getopt_long returned @c ('?' or
 * ':', with opterr 0 and ':' first in its short options) means: an unknown
 * option, a value missing or given to an option that takes none.
 */
void opt_getopt_error(const char *prog, int c, char **argv) __attribute__((noreturn));

/*
 * opt_is_bdf() - @s is a PCI address as sysfs names it, DDDD:BB:DD.F
 * (hexadecimal; device at most 1f, function at most 7)
 */
bool opt_is_bdf(const char *s);

/* Print "PROG: message" to stderr, a hint to --help, and exit 2. */
void opt_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* Print "PROG: WHAT: dmk_last_error() (strerror(-err))" and exit 1. */
void opt_lib_error(const char *prog, const char *what, int err) __attribute__((noreturn));

/* Human-readable size ("4 KiB", "1.5 MiB", "123 B") into @buf. */
const char *opt_fmt_size(uint64_t n, char *buf, size_t len);

#endif
