/* SPDX-License-Identifier: MIT */
/* dmakit tool: the subcommands. Each gets argv[0] = its own name. */
#ifndef DMAKIT_TOOL_CMD_H
#define DMAKIT_TOOL_CMD_H

int cmd_sgl(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
