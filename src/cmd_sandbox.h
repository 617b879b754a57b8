/*
 * cmd_sandbox: the `pyroom sandbox ...` command (run, doctor), the sandbox library driven
 * from the command line through a supervisor of its own. Called by main.c.
 */
#ifndef PYROOM_CMD_SANDBOX_H
#define PYROOM_CMD_SANDBOX_H

/* `pyroom sandbox ARGS...` with argv[0] == "sandbox"; returns the process's exit status. */
int cmd_sandbox_main(int argc, char **argv);

#endif
