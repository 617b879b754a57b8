/* sandbox cli: `pyroom sandbox ...`, drives the sandbox library directly (placeholder). */
#include "sandbox/sandbox.h"

#include <stdio.h>

int sb_cli_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("pyroom sandbox: not built yet\n", stderr);
    return 2;
}
