/* Unit tests for http/reqcheck (request rules) and http/sse (event framing). */
#include "http/reqcheck.h"
#include "http/sse.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define H(n, v) ((struct reqcheck_header){n, v})

Test(reqcheck, accepts_ordinary_requests)
{
    struct reqcheck_refusal why;
    struct reqcheck_header a[] = {H("Host", "x"), H("Content-Length", "12")};
    cr_expect(reqcheck_headers("HTTP/1.1", a, 2, &why));
    struct reqcheck_header b[] = {H("host", "x"), H("transfer-encoding", "Chunked")};
    cr_expect(reqcheck_headers("HTTP/1.1", b, 2, &why));
    cr_expect(reqcheck_headers("HTTP/1.0", NULL, 0, &why), "1.0 needs no Host");
}

Test(reqcheck, refuses_smuggling_material)
{
    struct reqcheck_refusal why;
    struct reqcheck_header two_cl[] = {H("Host", "x"), H("Content-Length", "1"),
                                       H("content-length", "1")};
    cr_expect_not(reqcheck_headers("HTTP/1.1", two_cl, 3, &why));
    cr_expect_str_eq(why.code, "bad_request");
    struct reqcheck_header te_cl[] = {H("Host", "x"), H("Transfer-Encoding", "chunked"),
                                      H("Content-Length", "3")};
    cr_expect_not(reqcheck_headers("HTTP/1.1", te_cl, 3, &why));
    struct reqcheck_header te_other[] = {H("Host", "x"), H("Transfer-Encoding", "gzip, chunked")};
    cr_expect_not(reqcheck_headers("HTTP/1.1", te_other, 2, &why));
    struct reqcheck_header bad_cl[] = {H("Host", "x"), H("Content-Length", "+5")};
    cr_expect_not(reqcheck_headers("HTTP/1.1", bad_cl, 2, &why));
    struct reqcheck_header no_host[] = {H("Accept", "*/*")};
    cr_expect_not(reqcheck_headers("HTTP/1.1", no_host, 1, &why));
    struct reqcheck_header two_hosts[] = {H("Host", "a"), H("Host", "b")};
    cr_expect_not(reqcheck_headers("HTTP/1.0", two_hosts, 2, &why));
}

Test(reqcheck, counts_and_flattens_query_parameters)
{
    cr_expect_eq(reqcheck_query_params("/p"), 0);
    cr_expect_eq(reqcheck_query_params("/p?"), 0);
    cr_expect_eq(reqcheck_query_params("/p?a=1"), 1);
    cr_expect_eq(reqcheck_query_params("/p?a=1&b&&"), 4);
    char t[] = "/p?a=1&b=2&c";
    reqcheck_flatten_query(t);
    cr_expect_str_eq(t, "/p?a=1_b=2_c");
    cr_expect_eq(reqcheck_query_params(t), 1);
}

Test(sse, frames_lines_and_refuses_bad_names)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(sse_append(&b, "stdout", "a\nb\r\nc\rd", 8), 0);
    cr_expect_str_eq(b.data, "event: stdout\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    buf_reset(&b);
    cr_assert_eq(sse_append(&b, "x", "end\n", 4), 0);
    cr_expect_str_eq(b.data, "event: x\ndata: end\ndata: \n\n");
    buf_reset(&b);
    cr_assert_eq(sse_append(&b, "e", "", 0), 0);
    cr_expect_str_eq(b.data, "event: e\ndata: \n\n");
    buf_reset(&b);
    cr_expect_eq(sse_append(&b, "a\nevent: forged", "x", 1), -EINVAL);
    cr_expect_eq(sse_append(&b, "", "x", 1), -EINVAL);
    cr_expect_eq(sse_append(&b, "a", "x\0y", 3), -EINVAL);
    cr_expect_eq(b.len, 0);
    cr_expect_eq(sse_append_comment(&b, "hi\nthere"), -EINVAL);
    buf_done(&b);
    struct buf small;
    buf_init(&small, 10);
    cr_expect_eq(sse_append(&small, "stdout", "0123456789", 10), -E2BIG);
    cr_expect_eq(small.len, 0);
    buf_done(&small);
}
