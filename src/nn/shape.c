/* shape.c — how a shape is written for users: HxWxC, everywhere. */
#include "slimnas/nn.h"

#include <stdio.h>

const char *sn_shape_fmt(char *buf, size_t n, sn_shape s) {
    snprintf(buf, n, "%dx%dx%d", s.h, s.w, s.c);
    return buf;
}
