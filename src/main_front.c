/*
 * main_front.c: `pyroom`, the command users type. A small front: it runs the sandbox's
 * commands itself (`pyroom sandbox run|info|doctor`, `pyroom doctor`: cmd_sandbox.c, linked
 * with jansson only) and execs the server binary, `pyroom-server` in the same
 * directory as this one, for every other command (serve, user, migrate, drain, version,
 * settings-markdown, help and the server's own internal commands), with the same arguments.
 *
 * Why two binaries: the server links ~30 libraries (libpq with Kerberos, LDAP and OpenSSL;
 * libmicrohttpd with GnuTLS; SQLite; libsodium) and is linked with `-z now` (full RELRO), so
 * every start of it loads and relocates them all (~10,000 symbol relocations): most of what
 * a one-shot `pyroom sandbox run` cost before its sandbox existed, where bwrap loads two
 * libraries. A server command pays one more execve (~1 ms), once. The exec keeps the pid, so
 * a service manager, a container's pid 1 and `pyroom drain` see the same process; the
 * server finds its own binary for its re-execs (warm templates, zygotes) through
 * /proc/self/exe, which is then pyroom-server.
 *
 * The server binary is found next to our own (/proc/self/exe), never through $PATH or
 * argv[0]: a command typed in another directory must not start another program.
 */
#include "cmd_sandbox.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SERVER_NAME "pyroom-server"

/* The path of pyroom-server beside our binary into buf. 0, or -errno. */
static int server_path(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return n < 0 ? -errno : -ENOENT;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -ENOENT;
    slash[1] = '\0';
    if ((size_t)snprintf(buf, len, "%s%s", exe, SERVER_NAME) >= len)
        return -ENAMETOOLONG;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "sandbox"))
        return cmd_sandbox_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "doctor")) {
        char *dargv[] = {"sandbox", "doctor", NULL};
        return cmd_sandbox_main(2, dargv);
    }
    char path[PATH_MAX + sizeof(SERVER_NAME)] = SERVER_NAME;
    int r = server_path(path, sizeof(path));
    if (r == 0) {
        execv(path, argv);
        r = -errno;
    }
    fprintf(stderr, "pyroom: cannot start the server binary '%s' (it belongs beside pyroom): %s\n",
            path, strerror(-r));
    return 127;
}
