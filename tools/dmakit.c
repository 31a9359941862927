/* SPDX-License-Identifier: MIT */
/*
 * dmakit: the command-line tool, subcommand dispatch.
 *
 *	dmakit sgl [options]    show the segments a buffer becomes
 *	dmakit doctor           what this machine offers dmakit, one fact a line
 *	dmakit --help
 *	dmakit --version
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "opts.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "sgl", cmd_sgl, "allocate a buffer as an application would, register it, prepare it\n"
			  "          under a device's DMA rules and show segments, PRPs or SGLs" },
	{ "doctor", cmd_doctor, "what this machine offers dmakit (IOMMU, VFIO, uio, PCI devices,\n"
				"          pins, pagemap, huge pages, io_uring, routes), one fact a line" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: dmakit COMMAND [options]\n"
		   "       dmakit COMMAND --help\n"
		   "       dmakit --version\n"
		   "\n"
		   "dmakit: scatter-gather DMA into application buffers, from the command line.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s%s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n"
		   "Exit status: 0 on success, 1 when a dmakit call fails (its reason is\n"
		   "printed), 2 for bad options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		if (!strcmp(argv[1], "help") && argc > 2) {
			for (size_t i = 0; i < NCOMMANDS; i++)
				if (!strcmp(argv[2], commands[i].name)) {
					char help[] = "--help";
					char *av[] = { argv[2], help, NULL };

					return commands[i].run(2, av);
				}
			opt_usage_error("dmakit", "unknown command '%s'", argv[2]);
		}
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		opt_version("dmakit");
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		opt_usage_error("dmakit", "unknown option '%s' (a command comes first)", argv[1]);
	opt_usage_error("dmakit", "unknown command '%s'", argv[1]);
}
