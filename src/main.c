/* pyroom: the command line. */
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sandbox") == 0)
        return sb_cli_main(argc - 1, argv + 1);
    puts("pyroom 0.1.0");
    return 0;
}
