/*
 * main_sandbox.c: `pyroom-sandbox`, the `pyroom sandbox` command (run, info, doctor) as a
 * binary of its own. Same code as `pyroom sandbox` (cmd_sandbox.c), linked without the
 * server's libraries (libpq with Kerberos, LDAP and OpenSSL; libmicrohttpd with GnuTLS;
 * SQLite; libsodium): loading and relocating those is most of what a one-shot
 * `pyroom sandbox run` costs before its sandbox exists (~30 libraries, 10,000 symbol
 * relocations), and bwrap, the tool it is compared with, is a small binary too.
 */
#include "cmd_sandbox.h"
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: pyroom-sandbox run [OPTIONS] -- CMD [ARGS...] | info | doctor\n", stderr);
        return 2;
    }
    /* pid 1 of a warm pool's zygote (src/exec/warm_template.c execs this small binary). */
    if (!strcmp(argv[1], "__warm-init"))
        return sb_zygote_pid1_main();
    argv[0] = "sandbox";
    return cmd_sandbox_main(argc, argv);
}
