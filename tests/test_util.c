/* test_util.c — the parsing and formatting helpers every command uses. */
#include "testutil.h"

#include <limits.h>

static void test_parse_long(void **state) {
    long v = -7;
    assert_int_equal(sn_parse_long("12", 1, 64, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(sn_parse_long("-3", -5, 5, &v), 0);
    assert_int_equal(v, -3);
    /* refused, and v left as it was */
    v = 99;
    const char *bad[] = {"", "12x", "x12", "0", "65", "1.5", " ", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(sn_parse_long(bad[i], 1, 64, &v), -1);
    assert_int_equal(sn_parse_long(NULL, 1, 64, &v), -1);
    assert_int_equal(sn_parse_long("99999999999999999999999", 0, LONG_MAX, &v),
                     -1); /* overflow */
    assert_int_equal(v, 99);
}

static void test_parse_double(void **state) {
    double d = -1;
    assert_int_equal(sn_parse_double("0.25", 0, 1, &d), 0);
    assert_close(d, 0.25, 0);
    assert_int_equal(sn_parse_double("1e-3", 0, 1, &d), 0);
    assert_close(d, 1e-3, 0);
    d = 7;
    const char *bad[] = {"", "nan", "1.5", "-0.1", "0.2x", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(sn_parse_double(bad[i], 0, 1, &d), -1);
    assert_close(d, 7, 0);
}

static void test_sizes_durations(void **state) {
    int64_t n;
    assert_int_equal(sn_parse_size("20k", &n), 0);
    assert_int_equal(n, 20000);
    assert_int_equal(sn_parse_size("1.5M", &n), 0);
    assert_int_equal(n, 1500000);
    assert_int_equal(sn_parse_size("300", &n), 0);
    assert_int_equal(n, 300);
    assert_int_equal(sn_parse_size("5q", &n), -1);
    assert_int_equal(sn_parse_size("-1", &n), -1);
    double s;
    assert_int_equal(sn_parse_duration("40s", &s), 0);
    assert_close(s, 40, 0);
    assert_int_equal(sn_parse_duration("30m", &s), 0);
    assert_close(s, 1800, 0);
    assert_int_equal(sn_parse_duration("2h", &s), 0);
    assert_close(s, 7200, 0);
    assert_int_equal(sn_parse_duration("3d", &s), -1);
    /* found by the strings fuzzer: NaN passed the "< 0" test */
    assert_int_equal(sn_parse_duration("nan", &s), -1);
    assert_int_equal(sn_parse_duration("nanm", &s), -1);
    assert_int_equal(sn_parse_duration("inf", &s), -1);
    assert_int_equal(sn_parse_size("nan", &n), -1);
    assert_int_equal(sn_parse_size("nank", &n), -1);
    char b[32];
    assert_string_equal(sn_fmt_int(b, sizeof b, 80720), "80,720");
    assert_string_equal(sn_fmt_int(b, sizeof b, -1234567), "-1,234,567");
    assert_string_equal(sn_fmt_int(b, sizeof b, 999), "999");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_long),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_sizes_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
