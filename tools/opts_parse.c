/* SPDX-License-Identifier: MIT */
/*
 * dmakit's tools: a tool's table of options read with getopt_long, each
 * value checked (opts.c) and stored; --help written from the same table,
 * so that it lists every option with its default; --version.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

#define HELP_COL 28	/* where the descriptions start */
#define HELP_WIDTH 79
#define MAX_DEFS 64	/* options of one tool */
#define NOTES_LEN 96

/* The largest value an unsigned integer of @size bytes holds. */
static uint64_t type_max(size_t size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
}

static uint64_t load(const struct opt_def *d)
{
	switch (d->size) {
	case 1: return *(const uint8_t *)d->dest;
	case 2: return *(const uint16_t *)d->dest;
	case 4: return *(const uint32_t *)d->dest;
	default: return *(const uint64_t *)d->dest;
	}
}

static void store(const struct opt_def *d, uint64_t v)
{
	switch (d->size) {
	case 1: *(uint8_t *)d->dest = (uint8_t)v; break;
	case 2: *(uint16_t *)d->dest = (uint16_t)v; break;
	case 4: *(uint32_t *)d->dest = (uint32_t)v; break;
	default: *(uint64_t *)d->dest = v; break;
	}
}

/* Option @d given @arg: checked and stored, or exit 2 naming both. */
static void set(const char *prog, const struct opt_def *d, const char *arg)
{
	char why[160];
	uint64_t v;
	unsigned mode;

	switch (d->type) {
	case OPT_FLAG:
		*(bool *)d->dest = true;
		return;
	case OPT_STR:
		if (!*arg)
			opt_usage_error(prog, "--%s '': empty", d->name);
		if (d->max && strlen(arg) > d->max)
			opt_usage_error(prog, "--%s '%s': longer than %" PRIu64 " bytes", d->name, arg,
					d->max);
		*(const char **)d->dest = arg;
		return;
	case OPT_MODE:
		if (opt_mode(arg, &mode, why, sizeof(why)))
			opt_usage_error(prog, "--%s '%s': %s", d->name, arg, why);
		store(d, mode);
		return;
	case OPT_UINT:
	case OPT_SIZE:
		if (opt_number(arg, d->type, d->min,
			       d->max && d->max < type_max(d->size) ? d->max : type_max(d->size),
			       d->flags, &v, why, sizeof(why)))
			opt_usage_error(prog, "--%s '%s': %s", d->name, arg, why);
		store(d, v);
		return;
	}
}

/* What --help says in parentheses after @d's text: range, default. */
static void notes(const struct opt_def *d, char *buf, size_t len)
{
	bool num = d->type == OPT_UINT || d->type == OPT_SIZE;
	size_t n = 0;

	buf[0] = '\0';
#define ADD(...) (n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__))
	if (num && d->min && d->max)
		ADD("%" PRIu64 " to %" PRIu64, d->min, d->max);
	else if (num && d->min)
		ADD("at least %" PRIu64, d->min);
	else if (num && d->max)
		ADD("at most %" PRIu64, d->max);
	else if (d->type == OPT_STR && d->max)
		ADD("at most %" PRIu64 " bytes", d->max);
	if (d->flags & OPT_POW2)
		ADD("%sa power of two", n ? ", " : "");
	if (d->def && !*d->def)
		return;
	ADD("%sdefault ", n ? "; " : "");
	if (d->def) {
		ADD("%s", d->def);
		return;
	}
	switch (d->type) {
	case OPT_FLAG:
		ADD("off");
		break;
	case OPT_STR:
		ADD("%s", *(const char *const *)d->dest ? *(const char *const *)d->dest : "none");
		break;
	case OPT_MODE:
		ADD("%04" PRIo64, load(d));
		break;
	case OPT_UINT:
		ADD("%" PRIu64, load(d));
		break;
	case OPT_SIZE: {
		char b[32];

		ADD("%s", opt_fmt_size(load(d), b, sizeof(b)));
		break;
	}
	}
#undef ADD
}

/* @text from column @col to HELP_WIDTH, broken between words and at its
 * own newlines. */
static void wrap(FILE *f, const char *text, int col)
{
	int at = col;

	while (*text) {
		size_t w = strcspn(text, " \n");

		if (*text == '\n') {
			fprintf(f, "\n%*s", text[1] && text[1] != '\n' ? col : 0, "");
			at = col;
			text++;
			continue;
		}
		if (at > col && at + 1 + (int)w > HELP_WIDTH) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", (int)w, text);
		at += (int)w;
		text += w;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

static void help_line(FILE *f, int key, const char *name, const char *arg, const char *text)
{
	int n = fprintf(f, "  %c%c%s--%s%s%s", key ? '-' : ' ', key ? key : ' ', key ? ", " : "  ",
			name, arg ? " " : "", arg ? arg : "");

	if (n >= HELP_COL - 1)
		fprintf(f, "\n%*s", HELP_COL, "");
	else
		fprintf(f, "%*s", HELP_COL - n, "");
	wrap(f, text, HELP_COL);
}

/* @notes_of[i]: the notes of option i, taken before any option was parsed. */
static void help(const struct opt_tool *t, char (*notes_of)[NOTES_LEN], FILE *f)
{
	fprintf(f, "usage: %s %s\n\n", t->prog, t->synopsis);
	wrap(f, t->about, 0);
	fprintf(f, "\nOptions:\n");
	for (size_t i = 0; i < t->ndefs; i++) {
		const struct opt_def *d = &t->defs[i];
		char text[512];

		snprintf(text, sizeof(text), notes_of[i][0] ? "%s (%s)" : "%s", d->help, notes_of[i]);
		help_line(f, d->key, d->name, d->type == OPT_FLAG ? NULL : d->arg, text);
	}
	help_line(f, 'h', "help", NULL, "this text");
	help_line(f, 0, "version", NULL, "print the version");
	if (t->after) {
		fputc('\n', f);
		wrap(f, t->after, 0);
	}
}

int opt_parse(const struct opt_tool *t, int argc, char **argv)
{
	/* static: the tool may exit from here with nothing to free */
	static struct option lo[MAX_DEFS + 3];
	static char shorts[2 * MAX_DEFS + 3], notes_of[MAX_DEFS][NOTES_LEN];
	const int first = 256, version = first + (int)t->ndefs;
	size_t ns = 0;
	int c;

	if (t->ndefs > MAX_DEFS) {
		fprintf(stderr, "%s: %zu options, more than the %d opt_parse() takes\n", t->prog,
			t->ndefs, MAX_DEFS);
		exit(EXIT_LIB);
	}
	shorts[ns++] = ':';
	shorts[ns++] = 'h';
	for (size_t i = 0; i < t->ndefs; i++) {
		const struct opt_def *d = &t->defs[i];

		lo[i] = (struct option){ d->name, d->type == OPT_FLAG ? no_argument : required_argument,
					 NULL, first + (int)i };
		if (d->key) {
			shorts[ns++] = (char)d->key;
			if (d->type != OPT_FLAG)
				shorts[ns++] = ':';
		}
		notes(d, notes_of[i], sizeof(notes_of[i]));
	}
	shorts[ns] = '\0';
	lo[t->ndefs] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[t->ndefs + 1] = (struct option){ "version", no_argument, NULL, version };
	lo[t->ndefs + 2] = (struct option){ NULL, 0, NULL, 0 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct opt_def *d = NULL;

		if (c == 'h') {
			help(t, notes_of, stdout);
			exit(0);
		}
		if (c == version) {
			opt_version(t->prog);
			exit(0);
		}
		if (c >= first && c < version)
			d = &t->defs[c - first];
		for (size_t i = 0; !d && i < t->ndefs; i++)
			if (t->defs[i].key && t->defs[i].key == c)
				d = &t->defs[i];
		if (!d)
			opt_getopt_error(t->prog, c, argv);
		set(t->prog, d, optarg);
	}
	return optind;
}
