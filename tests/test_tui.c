/* test_tui.c — the explorer's pure functions: colours and themes, axis
 * ticks, the plot rasteriser and picking, the sparkline, tree flattening
 * with fold/selection state, the layout, the per-layer table, the text
 * graph, the status line, command resolution, completion and keys. No
 * terminal involved; expected values are worked out by hand in comments. */
#include "testutil.h"

#include "slimnas/tui.h"

#include <ctype.h>
#include <dirent.h>

/* ---- text helpers ------------------------------------------------------ */

static void test_width_clip(void **state) {
    (void)state;
    assert_int_equal(sn_tui_width("h\xc3\xa9llo"), 5); /* héllo */
    assert_int_equal(sn_tui_width("\xe2\x94\x82 x"), 3);
    char b[32];
    assert_int_equal(sn_tui_clip(b, sizeof b, "h\xc3\xa9llo", 3, 1, 0), 3);
    assert_string_equal(b, "h\xc3\xa9\xe2\x80\xa6"); /* hé… */
    assert_int_equal(sn_tui_clip(b, sizeof b, "hello", 3, 1, 1), 3);
    assert_string_equal(b, "he~");
    assert_int_equal(sn_tui_clip(b, sizeof b, "hello", 3, 0, 0), 3);
    assert_string_equal(b, "hel");
    assert_int_equal(sn_tui_clip(b, sizeof b, "hi", 5, 1, 0), 2);
    assert_string_equal(b, "hi");
    /* a tiny buffer never gets half a code point */
    char t[4];
    sn_tui_clip(t, sizeof t, "\xc3\xa9\xc3\xa9", 2, 0, 0);
    assert_string_equal(t, "\xc3\xa9");
}

static void test_fmt(void **state) {
    (void)state;
    char b[32];
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 0.5), "0.5");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 20), "20");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 950), "950");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 1000), "1k");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 2500), "2.5k");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 12345), "12.3k");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 20000), "20k");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 150000), "150k");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 1.5e6), "1.5M");
    assert_string_equal(sn_tui_fmt_num(b, sizeof b, 999.6), "1k");
    assert_string_equal(sn_tui_fmt_duration(b, sizeof b, 45), "45s");
    assert_string_equal(sn_tui_fmt_duration(b, sizeof b, 185), "3m05s");
    assert_string_equal(sn_tui_fmt_duration(b, sizeof b, 3720), "1h02m");
    assert_string_equal(sn_tui_fmt_duration(b, sizeof b, -3), "0s");
}

/* ---- colours and themes --------------------------------------------------- */

static void test_colour_parse(void **state) {
    (void)state;
    sn_colour c;
    assert_int_equal(sn_colour_parse("red", &c), 0);
    assert_int_equal(c.kind, SN_COLOUR_INDEX);
    assert_int_equal(c.index, 1);
    assert_int_equal(sn_colour_parse("bright-blue", &c), 0);
    assert_int_equal(c.index, 12);
    assert_int_equal(sn_colour_parse("brightwhite", &c), 0);
    assert_int_equal(c.index, 15);
    assert_int_equal(sn_colour_parse("grey", &c), 0);
    assert_int_equal(c.index, 8);
    assert_int_equal(sn_colour_parse("245", &c), 0);
    assert_int_equal(c.index, 245);
    assert_int_equal(sn_colour_parse("#FFd75f", &c), 0);
    assert_int_equal(c.kind, SN_COLOUR_RGB);
    assert_int_equal(c.r, 255);
    assert_int_equal(c.g, 0xd7);
    assert_int_equal(c.b, 0x5f);
    assert_int_equal(sn_colour_parse("default", &c), 0);
    assert_int_equal(c.kind, SN_COLOUR_DEFAULT);
    const char *bad[] = {"#12345", "#1234567", "#gg0000", "256", "-1",
                         "purple", "", "bright-", "12x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sn_colour_parse(bad[i], &c), -1);
}

static void test_colour_map(void **state) {
    (void)state;
    sn_colour c;
    unsigned char rgb[3];
    /* palette formulas: cube index 16 + 36r + 6g + b over levels
     * {0,95,135,175,215,255}; greys 232+k are 8+10k */
    sn_colour_rgb_of(196, rgb); /* 16+36*5 */
    assert_true(rgb[0] == 255 && rgb[1] == 0 && rgb[2] == 0);
    sn_colour_rgb_of(244, rgb);
    assert_true(rgb[0] == 128 && rgb[1] == 128 && rgb[2] == 128);
    sn_colour_parse("#ff0000", &c);
    assert_int_equal(sn_colour_to_terminal(c, 256), 196);
    assert_int_equal(sn_colour_to_terminal(c, 16), 9);
    assert_int_equal(sn_colour_to_terminal(c, 8), 1);
    /* #ffd75f: levels 5, 4, 1 -> 16 + 180 + 24 + 1 */
    sn_colour_parse("#ffd75f", &c);
    assert_int_equal(sn_colour_to_terminal(c, 256), 221);
    /* #808080 is exactly grey 244 (cube's 135-grey is 7 away per channel) */
    sn_colour_parse("#808080", &c);
    assert_int_equal(sn_colour_to_terminal(c, 256), 244);
    /* index 110 = (135,175,215): nearest of the 8 is white (229,229,229),
     * squared distance 94^2+54^2+14^2 = 11948 vs cyan's 19225 */
    sn_colour_parse("110", &c);
    assert_int_equal(sn_colour_to_terminal(c, 256), 110);
    assert_int_equal(sn_colour_to_terminal(c, 8), 7);
    sn_colour_parse("bright-blue", &c);
    assert_int_equal(sn_colour_to_terminal(c, 16), 12);
    assert_int_equal(sn_colour_to_terminal(c, 8), 4);
    sn_colour_parse("grey", &c);
    assert_int_equal(sn_colour_to_terminal(c, 8), 7);
    sn_colour_parse("default", &c);
    assert_int_equal(sn_colour_to_terminal(c, 256), -1);
    sn_colour_parse("red", &c);
    assert_int_equal(sn_colour_to_terminal(c, 2), -1); /* no colours */
}

static void test_theme_parse(void **state) {
    (void)state;
    sn_theme t;
    sn_theme_default(&t);
    sn_error e;
    const char *good = "# comment\n"
                       "  front = #00ff00 bold   # trailing comment\n"
                       "\n"
                       "status = black on 33 underline reverse\n";
    assert_int_equal(sn_theme_parse(&t, good, "x.theme", &e), 0);
    const sn_style *f = &t.slot[SN_SLOT_FRONT];
    assert_int_equal(f->fg.kind, SN_COLOUR_RGB);
    assert_int_equal(f->fg.g, 255);
    assert_int_equal(f->attr, SN_ATTR_BOLD);
    const sn_style *s = &t.slot[SN_SLOT_STATUS];
    assert_int_equal(s->fg.index, 0);
    assert_int_equal(s->bg.index, 33);
    assert_int_equal(s->attr, SN_ATTR_UNDERLINE | SN_ATTR_REVERSE);
    /* a slot the text leaves out keeps its value */
    sn_theme d;
    sn_theme_default(&d);
    assert_memory_equal(&t.slot[SN_SLOT_AXIS], &d.slot[SN_SLOT_AXIS],
                        sizeof(sn_style));

    /* errors name file and line, and leave the theme as it was */
    sn_theme before = t;
    assert_int_equal(sn_theme_parse(&t, "front = red\n\nfrnt = blue\n",
                                    "my.theme", &e),
                     -1);
    assert_non_null(strstr(e.msg, "my.theme:3:"));
    assert_non_null(strstr(e.msg, "frnt"));
    assert_memory_equal(&t, &before, sizeof t);
    assert_int_equal(sn_theme_parse(&t, "front = reddish\n", "a", &e), -1);
    assert_non_null(strstr(e.msg, "a:1:"));
    assert_non_null(strstr(e.msg, "reddish"));
    assert_int_equal(sn_theme_parse(&t, "front red\n", "a", &e), -1);
    assert_non_null(strstr(e.msg, "a:1:"));
    assert_int_equal(sn_theme_parse(&t, "x=1\nfront = red on\n", "b", &e), -1);
    assert_non_null(strstr(e.msg, "b:1:")); /* first error wins */
    assert_int_equal(sn_theme_parse(&t, "front = red on #12\n", "b", &e), -1);
    assert_non_null(strstr(e.msg, "b:1:"));
    assert_int_equal(sn_theme_parse(&t, "front = red blue\n", "c", &e), -1);
    assert_non_null(strstr(e.msg, "c:1:"));
    assert_int_equal(sn_theme_parse(&t, "front =\n", "c", &e), -1);
    assert_memory_equal(&t, &before, sizeof t);
}

static void test_theme_files(void **state) {
    (void)state;
    /* themes/default.theme says what the built-in default says */
    sn_theme builtin, file;
    sn_theme_default(&builtin);
    sn_error e;
    if (sn_theme_load(&file, "themes/default.theme", &e))
        fail_msg("%s", e.msg);
    assert_string_equal(file.name, "default");
    for (int i = 0; i < SN_SLOT_COUNT; i++)
        if (memcmp(&builtin.slot[i], &file.slot[i], sizeof(sn_style)))
            fail_msg("slot %s differs between the built-in default and "
                     "themes/default.theme",
                     sn_slot_name(i));
    /* every shipped theme loads and names every slot (a theme that
     * forgets one silently inherits the dark default's colour) */
    const char *names[] = {"light", "solarized", "mono"};
    for (int k = 0; k < 3; k++) {
        char path[64];
        snprintf(path, sizeof path, "themes/%s.theme", names[k]);
        sn_theme t;
        if (sn_theme_load(&t, path, &e)) fail_msg("%s", e.msg);
        assert_string_equal(t.name, names[k]);
        char *text;
        size_t len;
        assert_int_equal(sn_read_file(path, &text, &len, &e), 0);
        for (int i = 0; i < SN_SLOT_COUNT; i++) {
            char key[64];
            snprintf(key, sizeof key, "\n%s = ", sn_slot_name(i));
            if (!strstr(text, key))
                fail_msg("%s does not set slot %s", path, sn_slot_name(i));
        }
        free(text);
    }
    /* mono has no colours at all */
    sn_theme m;
    assert_int_equal(sn_theme_load(&m, "themes/mono.theme", &e), 0);
    for (int i = 0; i < SN_SLOT_COUNT; i++) {
        assert_int_equal(m.slot[i].fg.kind, SN_COLOUR_DEFAULT);
        assert_int_equal(m.slot[i].bg.kind, SN_COLOUR_DEFAULT);
    }
    assert_int_equal(sn_theme_load(&m, "themes/none.theme", &e), -1);

    setenv("SLIMNAS_THEMES", "themes", 1);
    char list[16][64];
    int n = sn_theme_list(list, 16);
    assert_true(n >= 4);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        if (i) assert_true(strcmp(list[i - 1], list[i]) < 0);
        seen += !strcmp(list[i], "default") + !strcmp(list[i], "light") +
                !strcmp(list[i], "solarized") + !strcmp(list[i], "mono");
    }
    assert_int_equal(seen, 4);
    char path[512];
    assert_int_equal(sn_theme_find("light", path, sizeof path), 0);
    assert_string_equal(path, "themes/light.theme");
    assert_int_equal(sn_theme_find("no-such-theme", path, sizeof path), -1);
}

static void test_no_color(void **state) {
    (void)state;
    unsetenv("NO_COLOR");
    assert_int_equal(sn_tui_no_color(), 0);
    setenv("NO_COLOR", "", 1);
    assert_int_equal(sn_tui_no_color(), 0); /* the spec: set and non-empty */
    setenv("NO_COLOR", "1", 1);
    assert_int_equal(sn_tui_no_color(), 1);
    unsetenv("NO_COLOR");
    sn_theme t;
    sn_theme_default(&t);
    unsigned front_attr = t.slot[SN_SLOT_FRONT].attr;
    sn_theme_strip_colour(&t);
    for (int i = 0; i < SN_SLOT_COUNT; i++) {
        assert_int_equal(t.slot[i].fg.kind, SN_COLOUR_DEFAULT);
        assert_int_equal(t.slot[i].bg.kind, SN_COLOUR_DEFAULT);
    }
    assert_int_equal(t.slot[SN_SLOT_FRONT].attr, front_attr);
    /* the status bar and the selection must stay distinguishable */
    assert_true(t.slot[SN_SLOT_STATUS].attr & SN_ATTR_REVERSE);
    assert_true(t.slot[SN_SLOT_SELECTED].attr & SN_ATTR_REVERSE);
}

/* ---- ticks, plot, sparkline ----------------------------------------------- */

static void test_ticks(void **state) {
    (void)state;
    double t[64];
    int n = sn_axis_log_ticks(1e3, 1e5, 10, t);
    /* 1,2,3..9 per decade would be 19 ticks; 1,2,5 gives 7 */
    double want[] = {1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5};
    assert_int_equal(n, 7);
    for (int i = 0; i < n; i++) assert_close(t[i], want[i], want[i] * 1e-9);
    n = sn_axis_log_ticks(1e3, 1e5, 3, t);
    assert_int_equal(n, 3);
    assert_close(t[1], 1e4, 1e-5);
    n = sn_axis_log_ticks(1e2, 1e8, 4, t); /* 7 decades: every other */
    assert_int_equal(n, 4);
    assert_close(t[0], 1e2, 1e-7);
    assert_close(t[3], 1e8, 1e-1);
    n = sn_axis_log_ticks(2.2e4, 3.9e4, 8, t); /* inside one decade */
    assert_int_equal(n, 1);
    assert_close(t[0], 3e4, 1e-6);
    n = sn_axis_log_ticks(1.5e3, 8e4, 5, t); /* 2k 5k 10k 20k 50k */
    assert_int_equal(n, 5);
    assert_close(t[0], 2e3, 1e-6);
    assert_close(t[4], 5e4, 1e-5);

    /* 0.8..0.95 in at most 5: step 0.05 (0.02 would need 8) */
    n = sn_axis_lin_ticks(0.8, 0.95, 5, t);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++) assert_close(t[i], 0.8 + 0.05 * i, 1e-12);
    n = sn_axis_lin_ticks(0, 1, 11, t);
    assert_int_equal(n, 11);
    assert_close(t[10], 1.0, 1e-12);
    n = sn_axis_lin_ticks(0.813, 0.818, 3, t); /* step 0.002: .814 .816 .818 */
    assert_int_equal(n, 3);
    assert_close(t[0], 0.814, 1e-12);
}

/* Cell text at (x, y). */
static const char *cell(const sn_plot *p, int x, int y) {
    return p->cells[y * p->w + x].ch;
}

static int find_in_row(const sn_plot *p, int y, const char *s) {
    for (int x = 0; x < p->w; x++)
        if (!strcmp(cell(p, x, y), s)) return x;
    return -1;
}

static void test_plot_ascii(void **state) {
    (void)state;
    /* Three sizes a decade apart: equally spaced columns on a log axis. */
    sn_plot_point pts[] = {
        {1e3, 0.80, 0, SN_PT_FRONT},
        {1e4, 0.90, 1, SN_PT_FRONT | SN_PT_SELECTED},
        {1e5, 0.85, 2, 0},
        {2e5, 0.95, 3, SN_PT_INFEASIBLE},
    };
    sn_plot_spec s = {pts, 4, 5e4, "params", SN_GLYPH_ASCII};
    sn_plot p;
    assert_int_equal(sn_plot_render(&s, 60, 16, &p), 0);
    int cx[4], cy[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(sn_plot_cell_of(&p, pts[i].x, pts[i].y, &cx[i], &cy[i]),
                         0);
    assert_string_equal(cell(&p, cx[0], cy[0]), "*");
    assert_string_equal(cell(&p, cx[1], cy[1]), "@");
    assert_string_equal(cell(&p, cx[2], cy[2]), "o");
    assert_string_equal(cell(&p, cx[3], cy[3]), "x");
    assert_int_equal(p.cells[cy[0] * p.w + cx[0]].slot, SN_SLOT_FRONT_LINE);
    assert_int_equal(p.cells[cy[1] * p.w + cx[1]].slot, SN_SLOT_HIGHLIGHT);
    /* log scale: 1e3->1e4 and 1e4->1e5 span the same columns (+-1 for
     * rounding); higher accuracy is higher up */
    assert_true(abs((cx[1] - cx[0]) - (cx[2] - cx[1])) <= 1);
    assert_true(cx[0] < cx[1] && cx[1] < cx[2] && cx[2] < cx[3]);
    assert_true(cy[1] < cy[2] && cy[2] < cy[0] && cy[3] < cy[1]);
    /* the staircase: row of point 0 from it to point 1's column is '-',
     * then '|' up to point 1 (corner '+') */
    for (int x = cx[0] + 1; x < cx[1]; x++)
        assert_string_equal(cell(&p, x, cy[0]), "-");
    assert_string_equal(cell(&p, cx[1], cy[0]), "+");
    for (int y = cy[1] + 1; y < cy[0]; y++)
        assert_string_equal(cell(&p, cx[1], y), "|");
    /* the limit 5e4: a dotted ':' column between points 1 and 2 */
    int lx = find_in_row(&p, 0, ":");
    if (lx < 0) lx = find_in_row(&p, 1, ":");
    assert_true(lx > cx[1] && lx < cx[2]);
    assert_int_equal(p.cells[0 * p.w + lx].slot == SN_SLOT_LIMIT ||
                         p.cells[1 * p.w + lx].slot == SN_SLOT_LIMIT,
                     1);
    /* axes: corner at (ax-1, ah); labels "10k" and the unit at the bottom */
    assert_string_equal(cell(&p, p.ax - 1, p.ah), "+");
    char bottom[128] = "";
    for (int x = 0; x < p.w; x++) strcat(bottom, cell(&p, x, p.h - 1));
    assert_non_null(strstr(bottom, "10k"));
    assert_non_null(strstr(bottom, "100k"));
    assert_non_null(strstr(bottom, "params"));
    char left[32] = "";
    for (int y = 0; y < p.ah; y++) {
        char row[16] = "";
        for (int x = 0; x < p.ax - 1; x++) strcat(row, cell(&p, x, y));
        if (strstr(row, "90%")) strcpy(left, row);
    }
    assert_non_null(strstr(left, "90%"));
    /* picking: a click on a point's cell or next to it selects it */
    assert_int_equal(sn_plot_pick(&p, &s, cx[2], cy[2]), 2);
    assert_int_equal(sn_plot_pick(&p, &s, cx[2] + 1, cy[2]), 2);
    assert_int_equal(sn_plot_pick(&p, &s, p.ax, 0), -1);
    sn_plot_free(&p);
    /* too small to draw */
    assert_int_equal(sn_plot_render(&s, 10, 3, &p), -1);
}

static void test_plot_unicode(void **state) {
    (void)state;
    sn_plot_point pts[] = {{2e3, 0.70, 5, SN_PT_FRONT},
                           {3e4, 0.88, 6, SN_PT_FRONT},
                           {8e3, 0.60, 7, 0}};
    for (int g = SN_GLYPH_BRAILLE; g <= SN_GLYPH_BLOCK; g++) {
        sn_plot_spec s = {pts, 3, 0, "MACs", (sn_glyphs)g};
        sn_plot p;
        assert_int_equal(sn_plot_render(&s, 50, 14, &p), 0);
        int cx, cy;
        assert_int_equal(sn_plot_cell_of(&p, 2e3, 0.70, &cx, &cy), 0);
        assert_string_equal(cell(&p, cx, cy), "\xe2\x97\x86"); /* ◆ */
        assert_int_equal(sn_plot_cell_of(&p, 8e3, 0.60, &cx, &cy), 0);
        assert_string_equal(cell(&p, cx, cy), "\xe2\x80\xa2"); /* • */
        /* the staircase is made of braille (U+2800..28FF: E2 A0..A3) or
         * quadrant blocks (U+2580..259F: E2 96 80..9F) in the front slot */
        int lines = 0;
        for (int i = 0; i < p.w * p.h; i++) {
            const unsigned char *c = (const unsigned char *)p.cells[i].ch;
            int is = g == SN_GLYPH_BRAILLE
                         ? c[0] == 0xe2 && c[1] >= 0xa0 && c[1] <= 0xa3
                         : c[0] == 0xe2 && c[1] == 0x96 && c[2] >= 0x80 &&
                               c[2] <= 0x9f;
            if (is) {
                assert_int_equal(p.cells[i].slot, SN_SLOT_FRONT_LINE);
                lines++;
            }
        }
        assert_true(lines >= 5);
        sn_plot_free(&p);
    }
}

static void test_plot_empty(void **state) {
    (void)state;
    sn_plot_spec s = {NULL, 0, 0, "params", SN_GLYPH_ASCII};
    sn_plot p;
    assert_int_equal(sn_plot_render(&s, 40, 10, &p), 0);
    assert_string_equal(cell(&p, p.ax - 1, p.ah), "+");
    assert_int_equal(sn_plot_pick(&p, &s, p.ax + 3, 2), -1);
    sn_plot_free(&p);
    /* one point: ranges are widened around it, and it is inside */
    sn_plot_point one = {5e3, 0.5, 0, SN_PT_FRONT};
    sn_plot_spec s1 = {&one, 1, 0, "params", SN_GLYPH_ASCII};
    assert_int_equal(sn_plot_render(&s1, 40, 10, &p), 0);
    int cx, cy;
    assert_int_equal(sn_plot_cell_of(&p, 5e3, 0.5, &cx, &cy), 0);
    assert_string_equal(cell(&p, cx, cy), "*");
    sn_plot_free(&p);
}

static void test_sparkline(void **state) {
    (void)state;
    double v[16];
    for (int i = 0; i < 16; i++) v[i] = i;
    char b[128];
    assert_int_equal(sn_sparkline(v, 8, 20, 1, b, sizeof b), 8);
    assert_string_equal(b, "_.-=+*#@");
    /* 16 values in 8 columns: buckets of two show 1,3,..,15 -> levels 0..7 */
    assert_int_equal(sn_sparkline(v, 16, 8, 1, b, sizeof b), 8);
    assert_string_equal(b, "_.-=+*#@");
    assert_int_equal(sn_sparkline(v, 8, 8, 0, b, sizeof b), 8);
    assert_string_equal(b, "\xe2\x96\x81\xe2\x96\x82\xe2\x96\x83\xe2\x96\x84"
                           "\xe2\x96\x85\xe2\x96\x86\xe2\x96\x87\xe2\x96\x88");
    double flat[3] = {0.4, 0.4, 0.4};
    assert_int_equal(sn_sparkline(flat, 3, 10, 1, b, sizeof b), 3);
    assert_string_equal(b, "===");
    assert_int_equal(sn_sparkline(v, 0, 10, 1, b, sizeof b), 0);
    assert_string_equal(b, "");
}

/* ---- tree ------------------------------------------------------------------ */

static sn_cand_info *make_cands(const int *parent, int n) {
    sn_cand_info *c = calloc((size_t)n, sizeof *c);
    for (int i = 0; i < n; i++) {
        c[i].id = i;
        c[i].parent = parent[i];
        c[i].val_acc = -1;
    }
    return c;
}

/* The flat list (htop's sort key): every candidate, in key order. */
static void test_cand_list(void **state) {
    (void)state;
    int parent[] = {-1, 0, 0, 1, 1};
    sn_cand_info *c = make_cands(parent, 5);
    double acc[] = {0.5, 0.9, -1, 0.7, 0.9};
    int64_t params[] = {300, 100, 200, 100, 50};
    for (int i = 0; i < 5; i++) {
        c[i].status = acc[i] < 0 ? SN_CAND_TRAINING : SN_CAND_DONE;
        c[i].val_acc = acc[i];
        c[i].params = params[i];
        c[i].flops = 1000 - params[i];
        c[i].memory = 7;
    }
    sn_tree_row *rows;
    /* accuracy: best first, ties by id, the one without a result last */
    int n = sn_cand_list(c, 5, SN_SORT_ACCURACY, &rows);
    int by_acc[] = {1, 4, 3, 0, 2};
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rows[i].id, by_acc[i]);
        assert_int_equal(rows[i].depth, 0);
        assert_string_equal(rows[i].prefix, "");
    }
    assert_int_equal(rows[0].n_kids, 2); /* #1 has #3 and #4 */
    assert_int_equal(rows[1].n_kids, 0);
    free(rows);
    /* sizes: smallest first */
    sn_cand_list(c, 5, SN_SORT_PARAMS, &rows);
    int by_params[] = {4, 1, 3, 2, 0};
    for (int i = 0; i < 5; i++) assert_int_equal(rows[i].id, by_params[i]);
    free(rows);
    sn_cand_list(c, 5, SN_SORT_FLOPS, &rows);
    int by_flops[] = {0, 2, 1, 3, 4};
    for (int i = 0; i < 5; i++) assert_int_equal(rows[i].id, by_flops[i]);
    free(rows);
    sn_cand_list(c, 5, SN_SORT_MEMORY, &rows); /* all equal: by id */
    for (int i = 0; i < 5; i++) assert_int_equal(rows[i].id, i);
    free(rows);
    assert_int_equal(sn_cand_list(c, 0, SN_SORT_ACCURACY, &rows), 0);
    free(rows);
    free(c);
    for (int k = 0; k < SN_SORT_COUNT; k++)
        assert_int_equal(sn_sort_from_name(sn_sort_name((sn_sort)k)), k);
    assert_int_equal(sn_sort_from_name("size"), -1);
}

static void test_tree_flatten(void **state) {
    (void)state;
    /* roots 0 and 1; 0 -> {2, 3}; 2 -> 4; 3 -> 6; 1 -> 5 */
    int parent[] = {-1, -1, 0, 0, 2, 1, 3};
    sn_cand_info *c = make_cands(parent, 7);
    sn_tree_state st;
    sn_tree_state_init(&st);
    sn_tree_row *rows;
    int n = sn_tree_flatten(c, 7, &st, 8, 1, &rows);
    int order[] = {0, 2, 4, 3, 6, 1, 5};
    const char *pre[] = {"", "|-", "| `-", "`-", "  `-", "", "`-"};
    int depth[] = {0, 1, 2, 1, 2, 0, 1};
    assert_int_equal(n, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(rows[i].id, order[i]);
        assert_string_equal(rows[i].prefix, pre[i]);
        assert_int_equal(rows[i].depth, depth[i]);
    }
    assert_int_equal(rows[0].n_kids, 2);
    assert_int_equal(st.selected, 0); /* nothing selected: the first row */
    free(rows);

    /* unicode lines */
    n = sn_tree_flatten(c, 7, &st, 8, 0, &rows);
    assert_string_equal(rows[2].prefix,
                        "\xe2\x94\x82 \xe2\x94\x94\xe2\x94\x80"); /* │ └─ */
    free(rows);

    /* select 4, fold 2: selection moves to 2 (its visible ancestor) */
    st.selected = 4;
    sn_tree_set_folded(&st, 2, 1);
    n = sn_tree_flatten(c, 7, &st, 8, 1, &rows);
    assert_int_equal(n, 6);
    assert_int_equal(st.selected, 2);
    int r2 = sn_tree_row_of(rows, n, 2);
    assert_int_equal(rows[r2].folded, 1);
    assert_int_equal(rows[r2].hidden, 1);
    assert_int_equal(sn_tree_row_of(rows, n, 4), -1);
    free(rows);

    /* fold a leaf: nothing hidden, not shown as folded */
    sn_tree_set_folded(&st, 5, 1);
    n = sn_tree_flatten(c, 7, &st, 8, 1, &rows);
    assert_int_equal(rows[sn_tree_row_of(rows, n, 5)].folded, 0);
    free(rows);

    /* live update: more candidates arrive; fold and selection stay */
    int parent2[] = {-1, -1, 0, 0, 2, 1, 3, 4, 0};
    sn_cand_info *c2 = make_cands(parent2, 9);
    st.selected = 6;
    n = sn_tree_flatten(c2, 9, &st, 8, 1, &rows);
    assert_int_equal(st.selected, 6);
    assert_int_equal(sn_tree_is_folded(&st, 2), 1);
    assert_int_equal(n, 7); /* 4 and 7 hidden under 2 */
    assert_int_equal(rows[sn_tree_row_of(rows, n, 2)].hidden, 2);
    /* rows: 0 2 3 6 8 1 5; move +2 from 6 -> 1; clamps at both ends */
    assert_int_equal(sn_tree_move(&st, rows, n, 2), 1);
    assert_int_equal(sn_tree_move(&st, rows, n, 100), 5);
    assert_int_equal(sn_tree_move(&st, rows, n, -100), 0);
    /* scroll: height 3, select the row 5 (id 1) -> top 3 */
    st.selected = 1;
    st.top = 0;
    sn_tree_scroll(&st, rows, n, 3);
    assert_int_equal(st.top, 3);
    st.selected = 0;
    sn_tree_scroll(&st, rows, n, 3);
    assert_int_equal(st.top, 0);
    st.top = 6; /* beyond: no empty space below the last row */
    st.selected = 5;
    sn_tree_scroll(&st, rows, n, 3);
    assert_int_equal(st.top, 4);
    free(rows);

    sn_tree_set_folded(&st, 2, 0);
    n = sn_tree_flatten(c2, 9, &st, 8, 1, &rows);
    assert_int_equal(n, 9);
    free(rows);

    int path[8];
    assert_int_equal(sn_tree_lineage(c2, 9, 7, path, 8), 4);
    assert_int_equal(path[0], 0);
    assert_int_equal(path[1], 2);
    assert_int_equal(path[2], 4);
    assert_int_equal(path[3], 7);
    assert_int_equal(sn_tree_lineage(c2, 9, 7, path, 2), 2);
    assert_int_equal(path[0], 4);
    assert_int_equal(path[1], 7);
    sn_tree_state_free(&st);
    free(c);
    free(c2);
}

static void test_tree_deep(void **state) {
    (void)state;
    int parent[12];
    for (int i = 0; i < 12; i++) parent[i] = i - 1; /* a chain */
    sn_cand_info *c = make_cands(parent, 12);
    sn_tree_state st;
    sn_tree_state_init(&st);
    sn_tree_row *rows;
    int n = sn_tree_flatten(c, 12, &st, 4, 1, &rows);
    assert_int_equal(n, 12);
    /* indentation stops growing at 4 levels (8 columns) */
    for (int i = 0; i < n; i++) {
        int want = rows[i].depth < 4 ? 2 * rows[i].depth : 8;
        assert_int_equal(sn_tui_width(rows[i].prefix), want);
    }
    assert_int_equal(strncmp(rows[11].prefix, "~ ", 2), 0);
    free(rows);
    /* an empty tree */
    n = sn_tree_flatten(c, 0, &st, 4, 1, &rows);
    assert_int_equal(n, 0);
    free(rows);
    sn_tree_state_free(&st);
    free(c);
}

/* ---- layout ---------------------------------------------------------------- */

static int overlap(sn_rect a, sn_rect b) {
    if (!a.w || !a.h || !b.w || !b.h) return 0;
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h &&
           b.y < a.y + a.h;
}

static void test_layout(void **state) {
    (void)state;
    int sizes[][2] = {{80, 24}, {100, 30}, {120, 40}, {149, 60},
                      {150, 40}, {200, 50}, {60, 16}, {300, 100}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int detail = 0; detail < 2; detail++) {
            int w = sizes[k][0], h = sizes[k][1];
            sn_layout l;
            sn_layout_compute(w, h, detail, &l);
            assert_int_equal(l.too_small, 0);
            assert_int_equal(l.status.y, 0);
            assert_int_equal(l.status.w, w);
            assert_int_equal(l.bottom.y, h - 1);
            long area = 0;
            for (int i = 0; i < SN_PANE_COUNT; i++) {
                sn_rect r = l.pane[i];
                if (!r.w || !r.h) continue;
                assert_true(r.x >= 0 && r.y >= 1 && r.x + r.w <= w &&
                            r.y + r.h <= h - 1);
                assert_true(r.w >= 20 && r.h >= 4); /* frame + content */
                area += (long)r.w * r.h;
                for (int j = 0; j < i; j++)
                    assert_false(overlap(r, l.pane[j]));
            }
            assert_int_equal(area, (long)w * (h - 2)); /* no gaps */
            assert_true(l.pane[SN_PANE_TREE].w > 0);
            assert_true(l.pane[SN_PANE_LOG].w > 0);
            int wide = w >= 150 && h >= 40;
            assert_int_equal(l.wide, wide);
            if (wide) {
                assert_true(l.pane[SN_PANE_PLOT].w > 0);
                assert_true(l.pane[SN_PANE_DETAIL].w > 0);
            } else {
                assert_int_equal(l.pane[SN_PANE_PLOT].w > 0, !detail);
                assert_int_equal(l.pane[SN_PANE_DETAIL].w > 0, detail);
            }
        }
    }
    /* zoom: the pane takes everything between status and bottom */
    for (int p = 0; p < SN_PANE_COUNT; p++) {
        sn_layout z;
        sn_layout_compute(80, 24, p == SN_PANE_DETAIL, &z);
        sn_layout_zoom(&z, p);
        for (int q = 0; q < SN_PANE_COUNT; q++) {
            sn_rect r = z.pane[q];
            if (q != p) {
                assert_int_equal(r.w, 0);
                continue;
            }
            assert_int_equal(r.x, 0);
            assert_int_equal(r.y, 1);
            assert_int_equal(r.w, 80);
            assert_int_equal(r.h, 22);
        }
    }
    {
        sn_layout z; /* a pane not shown: nothing changes */
        sn_layout_compute(80, 24, 0, &z);
        sn_layout before = z;
        sn_layout_zoom(&z, SN_PANE_DETAIL);
        assert_memory_equal(&z, &before, sizeof z);
    }
    sn_layout l;
    /* wide: the tree gets two fifths, the log the whole width */
    sn_layout_compute(200, 50, 0, &l);
    assert_int_equal(l.pane[SN_PANE_TREE].w, 80);
    assert_int_equal(l.pane[SN_PANE_LOG].w, 200);
    sn_layout_compute(80, 24, 0, &l);
    /* at 80x24 the tree shows at least 15 rows and the log 3 lines */
    assert_true(l.pane[SN_PANE_TREE].h - 2 >= 15);
    assert_true(l.pane[SN_PANE_LOG].h - 2 >= 3);
    sn_layout_compute(59, 24, 0, &l);
    assert_int_equal(l.too_small, 1);
    sn_layout_compute(80, 15, 0, &l);
    assert_int_equal(l.too_small, 1);
}

/* ---- candidate view ---------------------------------------------------------- */

static int add(sn_graph *g, sn_op_kind op, int out, int k, int pad,
               const int *in, int n_in, const char *name) {
    sn_attr a = sn_attr_default(op);
    if (out) a.out = out;
    if (k) a.k = k, a.stride = op == SN_OP_CONV ? 1 : k;
    a.pad = pad;
    sn_error e;
    int r = sn_graph_add(g, op, &a, in, n_in, name, &e);
    if (r < 0) fail_msg("%s", e.msg);
    return r;
}

/* input 1x8x8 -> conv1 (4 filters 3x3 pad 1) -> relu1 -> conv2 (4, 3x3
 * pad 1) -> bn2 -> add(relu1, bn2) -> gap -> dense 10 */
static sn_graph *small_resnet(void) {
    sn_graph *g = sn_graph_new("t", (sn_shape){1, 8, 8}, 10);
    int x = 0;
    x = add(g, SN_OP_CONV, 4, 3, 1, &x, 1, "conv1");
    int r1 = add(g, SN_OP_RELU, 0, 0, 0, &x, 1, "relu1");
    x = add(g, SN_OP_CONV, 4, 3, 1, &r1, 1, "conv2");
    x = add(g, SN_OP_BN, 0, 0, 0, &x, 1, "bn2");
    int in[2] = {r1, x};
    x = add(g, SN_OP_ADD, 0, 0, 0, in, 2, "add1");
    x = add(g, SN_OP_GAP, 0, 0, 0, &x, 1, "gap");
    add(g, SN_OP_DENSE, 10, 0, 0, &x, 1, "fc");
    return g;
}

static void test_layer_table(void **state) {
    (void)state;
    sn_graph *g = small_resnet();
    sn_stats st;
    assert_int_equal(sn_stats_compute(g, SN_FLOPS_MACS, &st), 0);
    /* by hand: conv1 1*4*9+4 = 40, conv2 4*4*9+4 = 148, bn2 2*4 = 8,
     * fc 4*10+10 = 50; total 246 */
    assert_int_equal(st.params, 246);
    sn_lines l = {0};
    sn_layer_table(g, &st, 120, &l);
    assert_int_equal(l.n, g->n_nodes + 3); /* header, rows, total, peak */
    assert_non_null(strstr(l.s[0], "params"));
    assert_non_null(strstr(l.s[0], "%par"));
    assert_non_null(strstr(l.s[0], "act"));
    /* conv1 row: index 1, "conv 3x3 4", 8x8x4 (HxWxC), 40 params = 16.3% of 246 */
    assert_non_null(strstr(l.s[2], "conv1"));
    assert_non_null(strstr(l.s[2], "conv 3x3 4"));
    assert_non_null(strstr(l.s[2], "8x8x4"));
    assert_non_null(strstr(l.s[2], " 40 "));
    assert_non_null(strstr(l.s[2], "16.3%"));
    /* conv1 MACs: 8*8*4*9 = 2304 -> "2.3k"; activation 4*8*8 floats of
     * 4 bytes = 1024 B -> "1.02kB" (three significant digits) */
    assert_non_null(strstr(l.s[2], "2.3k"));
    assert_non_null(strstr(l.s[2], "1.02kB"));
    assert_non_null(strstr(l.s[g->n_nodes + 1], "total"));
    assert_non_null(strstr(l.s[g->n_nodes + 1], "246"));
    assert_non_null(strstr(l.s[g->n_nodes + 1], "100.0%"));
    assert_non_null(strstr(l.s[g->n_nodes + 2], "peak activation memory"));
    /* every row has the same width up to the trailing spaces trimmed:
     * columns line up under the header */
    const char *h = l.s[0];
    int pcol = (int)(strstr(h, "params") - h) + 6; /* right edge */
    for (int i = 1; i <= g->n_nodes + 1; i++)
        assert_true(l.s[i][pcol - 1] != ' ');
    sn_lines_free(&l);

    /* narrow: act, then %MAC, then %par are dropped; nothing overflows */
    sn_layer_table(g, &st, 44, &l);
    assert_null(strstr(l.s[0], "act"));
    assert_null(strstr(l.s[0], "%MAC"));
    for (int i = 0; i <= g->n_nodes + 1; i++)
        assert_true(sn_tui_width(l.s[i]) <= 44);
    sn_lines_free(&l);
    sn_stats_free(&st);
    sn_graph_free(g);
}

static void test_graph_text(void **state) {
    (void)state;
    sn_graph *g = small_resnet();
    sn_lines l = {0};
    int gw = sn_graph_text(g, 1, &l);
    assert_int_equal(gw, 4); /* one lane: the skip relu1 -> add1 */
    assert_int_equal(l.n, g->n_nodes);
    const char *gut[] = {"o   ", "o   ", "o-. ", "o | ",
                         "o | ", "o-' ", "o   ", "o   "};
    for (int i = 0; i < l.n; i++)
        if (strncmp(l.s[i], gut[i], 4))
            fail_msg("line %d: '%s', gutter should be '%s'", i, l.s[i],
                     gut[i]);
    assert_non_null(strstr(l.s[1], "conv1"));
    assert_non_null(strstr(l.s[1], "conv 3x3 4"));
    assert_non_null(strstr(l.s[7], "dense 10"));
    sn_lines_free(&l);

    /* two overlapping skips need two lanes; a third after both ends
     * reuses lane 0 */
    sn_graph *h = sn_graph_new("t", (sn_shape){2, 4, 4}, 2);
    int a = add(h, SN_OP_RELU, 0, 0, 0, (int[]){0}, 1, "a");    /* 1 */
    int b = add(h, SN_OP_RELU, 0, 0, 0, &a, 1, "b");            /* 2 */
    int c = add(h, SN_OP_ADD, 0, 0, 0, (int[]){a, b}, 2, "c");  /* 3 */
    int d = add(h, SN_OP_ADD, 0, 0, 0, (int[]){0, c}, 2, "d");  /* 4 */
    int e = add(h, SN_OP_RELU, 0, 0, 0, &d, 1, "e");            /* 5 */
    int f = add(h, SN_OP_ADD, 0, 0, 0, (int[]){d, e}, 2, "f");  /* 6 */
    (void)f;
    /* edges: 0->4 (lane 0), 1->3 (lane 1), 4->6 (lane 0 is busy until
     * row 4 inclusive, so lane 1, free since row 3) */
    gw = sn_graph_text(h, 1, &l);
    assert_int_equal(gw, 6);
    const char *g2[] = {"o-.   ", "o-+-. ", "o | | ", "o-+-' ",
                        "o-+-. ", "o   | ", "o---' "};
    for (int i = 0; i < l.n; i++)
        if (strncmp(l.s[i], g2[i], 6))
            fail_msg("line %d: '%s', gutter should be '%s'", i, l.s[i],
                     g2[i]);
    sn_lines_free(&l);
    sn_graph_free(h);
    sn_graph_free(g);
}

/* ---- status, commands, completion, keys ----------------------------------------- */

static void test_status(void **state) {
    (void)state;
    sn_snapshot s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "demo");
    s.state = SN_RUN_RUNNING;
    s.current = 3;
    s.progress.epoch = 0;
    s.progress.epochs = 1;
    s.progress.batch = 36;
    s.progress.batches = 100;
    s.progress.img_s = 1234.4;
    s.elapsed = 75;
    s.settings.budget = 1800;
    s.n_front = 4;
    s.hypervolume = 0.41234;
    s.n_records = 9;
    char b[256];
    sn_tui_status(&s, 0, 1, 200, b, sizeof b);
    assert_string_equal(b, "demo running | #3 e1/1 b37/100 | front 4  hv "
                           "0.412 | 1m15s, 28m45s left | 1234 img/s | 9 cand");
    sn_tui_status(&s, 1, 2, 200, b, sizeof b);
    assert_non_null(strstr(b, "demo [2/2] running"));
    /* narrow: parts that do not fit are left out, never cut */
    sn_tui_status(&s, 0, 1, 40, b, sizeof b);
    assert_true(sn_tui_width(b) <= 40);
    /* front (17) and time (19) do not fit after 30 columns, the
     * candidate count (6) still does */
    assert_string_equal(b, "demo running | #3 e1/1 b37/100 | 9 cand");
    s.state = SN_RUN_PAUSED;
    s.current = -1;
    s.settings.budget = 0;
    sn_tui_status(&s, 0, 1, 200, b, sizeof b);
    assert_string_equal(b, "demo paused | front 4  hv 0.412 | 1m15s | 9 cand");

    char lim[128];
    sn_search_settings set;
    memset(&set, 0, sizeof set);
    sn_tui_limits(&set, lim, sizeof lim);
    assert_string_equal(lim, "");
    set.max_params = 5000;
    set.max_memory = 1500000;
    sn_tui_limits(&set, lim, sizeof lim);
    assert_string_equal(lim, "max-params 5k, max-memory 1.5M");
}

static void test_resolve(void **state) {
    (void)state;
    char name[64];
    int local = -1;
    sn_error e;
    assert_int_equal(sn_tui_resolve("sel", name, sizeof name, &local, &e), 0);
    assert_string_equal(name, "select");
    assert_int_equal(local, 1);
    assert_int_equal(sn_tui_resolve("pa", name, sizeof name, &local, &e), 0);
    assert_string_equal(name, "pause");
    assert_int_equal(local, 0);
    assert_int_equal(sn_tui_resolve("fork", name, sizeof name, &local, &e), 0);
    assert_int_equal(local, 0);
    assert_int_equal(sn_tui_resolve("q", name, sizeof name, &local, &e), 0);
    assert_string_equal(name, "quit");
    assert_int_equal(sn_tui_resolve("p", name, sizeof name, &local, &e), -1);
    assert_non_null(strstr(e.msg, "ambiguous command 'p'"));
    assert_non_null(strstr(e.msg, "pause"));
    assert_non_null(strstr(e.msg, "pin"));
    assert_int_equal(sn_tui_resolve("frobnicate", name, sizeof name, &local,
                                    &e),
                     -1);
    assert_non_null(strstr(e.msg, "unknown command 'frobnicate'"));
    /* every explorer command has a usage and a help line, its arguments'
     * range is sane, and none collides with an engine command */
    for (const sn_command *c = sn_tui_commands; c->name; c++) {
        assert_non_null(c->usage);
        assert_non_null(c->help);
        assert_non_null(c->exec);
        assert_true(c->max_args < 0 || c->max_args >= c->min_args);
        for (const sn_command *d = sn_engine_commands; d->name; d++)
            assert_string_not_equal(c->name, d->name);
    }
    /* the help line is the synopsis, padded, then the help */
    char line[256];
    sn_command_help_line(&sn_engine_commands[0], line, sizeof line);
    assert_string_equal(line, "pause                 pause the search "
                              "(within one batch)");
}

/* The explorer talks to the engine only: no file of src/tui calls a
 * function of the search or morph layers (their vocabulary comes
 * re-exported by engine.h). */
static void test_explorer_calls_engine_only(void **state) {
    (void)state;
    static const char *const below[] = {"sn_search_", "sn_settings_",
                                        "sn_setting_", "sn_morph_",
                                        "sn_cand_status_", "sn_objective_",
                                        "sn_strategy_", "sn_front_", NULL};
    DIR *d = opendir("src/tui");
    assert_non_null(d);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 3 || (strcmp(de->d_name + l - 2, ".c") &&
                      strcmp(de->d_name + l - 2, ".h")))
            continue;
        char path[512];
        snprintf(path, sizeof path, "src/tui/%s", de->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        files++;
        char line[1024];
        for (int ln = 1; fgets(line, sizeof line, f); ln++)
            for (int k = 0; below[k]; k++)
                for (const char *p = strstr(line, below[k]); p;
                     p = strstr(p + 1, below[k])) {
                    if (p > line && (isalnum((unsigned char)p[-1]) ||
                                     p[-1] == '_'))
                        continue; /* sn_engine_..., a longer name */
                    const char *q = p;
                    while (isalnum((unsigned char)*q) || *q == '_') q++;
                    if (*q == '(' || !strncmp(p, "sn_setting_keys", 15))
                        fail_msg("%s:%d: the explorer calls %.*s (use the "
                                 "engine's re-export)", path, ln,
                                 (int)(q - p), p);
                }
        fclose(f);
    }
    closedir(d);
    assert_true(files > 10);
}

/* README.md's block of ':' commands names exactly the commands of the two
 * tables: the first word of each " | " alternative of each line's
 * synopsis (the text before a run of two spaces). */
static void test_readme_command_list(void **state) {
    (void)state;
    FILE *f = fopen("README.md", "r");
    assert_non_null(f);
    char line[512];
    int in_section = 0, in_block = 0, done = 0, n_words = 0;
    char words[128][32];
    while (!done && fgets(line, sizeof line, f)) {
        if (!in_section) {
            in_section = !strncmp(line, "### `:` commands", 16);
            continue;
        }
        if (!strncmp(line, "```", 3)) {
            if (in_block) done = 1;
            in_block = 1;
            continue;
        }
        if (!in_block || line[0] == ' ' || line[0] == '\n') continue;
        char *gap = strstr(line, "  ");
        if (gap) *gap = 0;
        line[strcspn(line, "\n")] = 0;
        char *save = NULL;
        for (char *alt = strtok_r(line, "|", &save); alt;
             alt = strtok_r(NULL, "|", &save)) {
            /* an inner '|' (N|page) has no space around it: only a part
             * that starts with a space or the line starts an alternative */
            if (alt != line && alt[0] != ' ') continue;
            while (*alt == ' ') alt++;
            char w[32];
            if (sscanf(alt, "%31s", w) == 1 && n_words < 128)
                snprintf(words[n_words++], sizeof words[0], "%s", w);
        }
    }
    fclose(f);
    assert_true(done);
    const sn_command *const tabs[2] = {sn_engine_commands, sn_tui_commands};
    for (int i = 0; i < n_words; i++) {
        int found = 0;
        for (int k = 0; k < 2; k++)
            for (const sn_command *c = tabs[k]; c->name; c++)
                found |= !strcmp(c->name, words[i]);
        if (!found) fail_msg("README names ':%s', not a command", words[i]);
    }
    for (int k = 0; k < 2; k++)
        for (const sn_command *c = tabs[k]; c->name; c++) {
            int found = 0;
            for (int i = 0; i < n_words; i++)
                found |= !strcmp(c->name, words[i]);
            if (!found) fail_msg("README's ':' commands lack '%s'", c->name);
        }
}

static int has(const sn_lines *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->s[i], s)) return 1;
    return 0;
}

/* The completions of the last word of line are exactly want (sorted,
 * space-separated; "" none). */
static void expect_complete(const sn_complete_ctx *ctx, const char *line,
                            const char *want) {
    const char *text = strrchr(line, ' ') ? strrchr(line, ' ') + 1 : line;
    sn_lines l = {0};
    sn_tui_complete(ctx, line, (int)(text - line), text, &l);
    char got[512] = "";
    for (int i = 0; i < l.n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s",
                 i ? " " : "", l.s[i]);
    sn_lines_free(&l);
    if (strcmp(got, want))
        fail_msg("'%s' completes to '%s', not '%s'", line, got, want);
}

static void test_complete(void **state) {
    (void)state;
    const char *themes[] = {"default", "light", "mono", NULL};
    sn_complete_ctx ctx = {12, themes};
    sn_lines l = {0};
    sn_tui_complete(&ctx, "", 0, "", &l);
    assert_true(has(&l, "select") && has(&l, "set") && has(&l, "fork") &&
                has(&l, "quit") && has(&l, "pause"));
    for (int i = 1; i < l.n; i++) assert_true(strcmp(l.s[i - 1], l.s[i]) < 0);
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "se", 0, "se", &l);
    assert_int_equal(l.n, 2); /* select, set */
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "set max-p", 4, "max-p", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "max-params");
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "set seed", 4, "se", &l); /* seed is not live */
    assert_int_equal(l.n, 0);
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "set rate.wi", 4, "rate.wi", &l);
    assert_true(has(&l, "rate.wider"));
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "set objective f", 14, "f", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "flops");
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "fork 1", 5, "1", &l);
    assert_int_equal(l.n, 3); /* 1, 10, 11 of 0..11 */
    assert_true(has(&l, "1") && has(&l, "10") && has(&l, "11"));
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "fork 3 --max-p", 7, "--max-p", &l);
    assert_true(has(&l, "--max-params"));
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "fork 3 --strategy e", 18, "e", &l);
    assert_true(has(&l, "evolution"));
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "theme l", 6, "l", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "light");
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "ban wi", 4, "wi", &l);
    assert_true(has(&l, "wider"));
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "pin n", 4, "n", &l);
    assert_true(has(&l, "none"));
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "enqueue 2 dee", 10, "dee", &l);
    assert_true(has(&l, "deeper"));
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "sort a", 5, "a", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "accuracy");
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "find p", 5, "p", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "prev");
    sn_lines_free(&l);
    sn_tui_complete(&ctx, "frob x", 5, "x", &l); /* unknown: nothing */
    assert_int_equal(l.n, 0);
    sn_lines_free(&l);
    /* Values come from the settings table's specs. */
    expect_complete(&ctx, "set strategy ", "bo evolution random");
    expect_complete(&ctx, "set pin no", "none");
    expect_complete(&ctx, "set epochs ", ""); /* a number */
    expect_complete(&ctx, "fork 3 --objective ", "flops memory params");
    expect_complete(&ctx, "fork 3 --max-params 5k --obj", "--objective");
    /* export's PATH (its 3rd argument) is a file name: the line editor's */
    sn_tui_complete(&ctx, "export 3 onnx ", 14, "", &l);
    assert_int_equal(l.n, 0);
    sn_lines_free(&l);
    assert_int_equal(sn_tui_complete_path("export 3 onnx ", 14), 1);
    assert_int_equal(sn_tui_complete_path("exp 3 c out/m", 8), 1);
    assert_int_equal(sn_tui_complete_path("export 3 on", 9), 0);
    assert_int_equal(sn_tui_complete_path("report ", 7), 0);
    assert_int_equal(sn_tui_complete_path("frob a b ", 9), 0);
}

static void test_run_line_clock(void **state) {
    (void)state;
    sn_snapshot s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "demo-fork3");
    snprintf(s.dir, sizeof s.dir, "runs/demo-fork3");
    s.state = SN_RUN_PAUSED;
    sn_cand_info c[3];
    memset(c, 0, sizeof c);
    c[0].status = c[1].status = SN_CAND_DONE;
    c[0].val_acc = 0.5;
    c[1].val_acc = 0.84;
    c[2].status = SN_CAND_TRAINING; /* not a record: not counted */
    c[2].val_acc = 0.99;
    s.cands = c;
    s.n_cands = 3;
    s.n_records = 2;
    s.n_front = 1;
    char b[256];
    sn_tui_run_line(&s, 1, 200, b, sizeof b);
    assert_string_equal(b, "2  demo-fork3  paused  2 cand  best 84.0%  "
                           "front 1  runs/demo-fork3");
    sn_tui_run_line(&s, 1, 20, b, sizeof b);
    assert_int_equal(sn_tui_width(b), 20);
    s.n_records = 0;
    sn_tui_run_line(&s, 0, 200, b, sizeof b);
    assert_non_null(strstr(b, "best -"));

    assert_string_equal(sn_tui_fmt_clock(b, sizeof b, 0), "00:00");
    assert_string_equal(sn_tui_fmt_clock(b, sizeof b, 75.9), "01:15");
    assert_string_equal(sn_tui_fmt_clock(b, sizeof b, 3599), "59:59");
    assert_string_equal(sn_tui_fmt_clock(b, sizeof b, 3723), "1:02:03");
    assert_string_equal(sn_tui_fmt_clock(b, sizeof b, -4), "00:00");
}

static void test_keys(void **state) {
    (void)state;
    char b[64];
    assert_string_equal(sn_tui_key_command('f', 7, b, sizeof b), "fork 7");
    /* f asks first; moving does not */
    assert_non_null(sn_tui_key_binding('f')->ask);
    assert_null(sn_tui_key_binding('j')->ask);
    assert_string_equal(sn_tui_key_command('z', 0, b, sizeof b), "zoom");
    assert_string_equal(sn_tui_key_command('N', 0, b, sizeof b), "find prev");
    assert_string_equal(sn_tui_key_command('h', 0, b, sizeof b), "left");
    assert_string_equal(sn_tui_key_command('s', 0, b, sizeof b), "sort next");
    assert_string_equal(sn_tui_key_command(SN_KEY_DOWN, 0, b, sizeof b),
                        "move 1");
    assert_string_equal(sn_tui_key_command('k', 0, b, sizeof b), "move -1");
    assert_string_equal(sn_tui_key_command(' ', 0, b, sizeof b),
                        "toggle-pause");
    assert_string_equal(sn_tui_key_command('q', 0, b, sizeof b), "quit");
    assert_null(sn_tui_key_command('Z', 0, b, sizeof b));
    /* every bound command resolves to a real command: one parser */
    for (int i = 0; sn_tui_keys[i].keys; i++) {
        const char *c = sn_tui_keys[i].command;
        if (!*c) continue; /* ':' opens the line */
        char word[64], name[64];
        int local;
        sscanf(c, "%63s", word);
        if (sn_tui_resolve(word, name, sizeof name, &local, NULL))
            fail_msg("key %s: '%s' is not a command", sn_tui_keys[i].keys, c);
        assert_string_equal(word, name); /* full names, not prefixes */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_width_clip),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_colour_parse),
        cmocka_unit_test(test_colour_map),
        cmocka_unit_test(test_theme_parse),
        cmocka_unit_test(test_theme_files),
        cmocka_unit_test(test_no_color),
        cmocka_unit_test(test_ticks),
        cmocka_unit_test(test_plot_ascii),
        cmocka_unit_test(test_plot_unicode),
        cmocka_unit_test(test_plot_empty),
        cmocka_unit_test(test_sparkline),
        cmocka_unit_test(test_cand_list),
        cmocka_unit_test(test_tree_flatten),
        cmocka_unit_test(test_tree_deep),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_layer_table),
        cmocka_unit_test(test_graph_text),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_readme_command_list),
        cmocka_unit_test(test_explorer_calls_engine_only),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_run_line_clock),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
