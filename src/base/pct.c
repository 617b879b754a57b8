/* pct: percent-encoding in URLs; see pct.h. */
#include "base/pct.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pct_decode_escape(const char *s, size_t avail)
{
    if (avail < 3 || s[0] != '%')
        return -1;
    int hi = hexval(s[1]), lo = hexval(s[2]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

bool pct_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}
