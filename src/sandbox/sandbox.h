/* sandbox: pyroom's own Linux isolation (placeholder header). */
#ifndef PYROOM_SANDBOX_SANDBOX_H
#define PYROOM_SANDBOX_SANDBOX_H

/* `pyroom sandbox ARGS...`: the command-line driver of this library. */
int sb_cli_main(int argc, char **argv);

#endif
