/* Unit tests for http/head: the response heads a forwarding node reads from its peers. */
#include "http/head.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int parse(const char *s, struct http_head *h)
{
    return http_head_parse(s, strlen(s), h);
}

Test(head, a_json_answer)
{
    struct http_head h;
    const char *s = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                    "retry-after:  7 \r\nContent-Length: 12\r\n\r\n{\"error\":{}}";
    cr_assert_eq(parse(s, &h), 0);
    cr_assert_eq(h.status, 429);
    cr_assert_str_eq(h.ctype, "application/json");
    cr_assert_str_eq(h.retry_after, "7");
    cr_assert_eq(h.length, 12);
    cr_assert_str_eq(s + h.head_len, "{\"error\":{}}");
}

Test(head, incomplete_and_bad)
{
    struct http_head h;
    cr_assert_eq(parse("HTTP/1.1 200 OK\r\nContent-Type: x\r\n", &h), -EAGAIN);
    cr_assert_eq(parse("HTTP/2 200\r\n\r\n", &h), -EPROTO);
    cr_assert_eq(parse("HTTP/1.1 20x OK\r\n\r\n", &h), -EPROTO);
    cr_assert_eq(parse("HTTP/1.1 099 Low\r\n\r\n", &h), -EPROTO);
    cr_assert_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", &h), 0);
    cr_assert_eq(h.length, -1);
}

Test(head, long_values_are_cut)
{
    char s[1024];
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(s, sizeof(s), "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", big);
    struct http_head h;
    cr_assert_eq(parse(s, &h), 0);
    cr_assert_eq(strlen(h.ctype), sizeof(h.ctype) - 1);
}
