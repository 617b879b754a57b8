/* pyroom: the command line. Placeholder until the server lands. */
#include <stdio.h>

int main(void)
{
    puts("pyroom 0.1.0");
    return 0;
}
