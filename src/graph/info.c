/* info.c — the model info (input layout, normalisation, class names) as
 * a JSON object, shared by the graph file and the weight file. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/graph.h"

const sn_model_info *sn_model_info_pick(const sn_graph *g,
                                        const sn_weights *w) {
    if (w && w->info.known) return &w->info;
    if (g && g->info.known) return &g->info;
    return NULL;
}

const char *sn_model_info_class(const sn_model_info *mi, int k, char *buf,
                                size_t n) {
    if (mi && k >= 0 && k < mi->n_names && mi->names[k][0])
        return mi->names[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

char *sn_model_info_to_json(const sn_model_info *mi) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "layout", "NCHW");
    cJSON_AddStringToObject(j, "pixel_scale", "1/255");
    cJSON *m = cJSON_AddArrayToObject(j, "mean");
    cJSON *s = cJSON_AddArrayToObject(j, "std");
    for (int c = 0; c < mi->c; c++) {
        /* %.9g text round-trips a float exactly */
        char num[32];
        snprintf(num, sizeof num, "%.9g", (double)mi->mean[c]);
        cJSON_AddItemToArray(m, cJSON_CreateRaw(num));
        snprintf(num, sizeof num, "%.9g", (double)mi->std[c]);
        cJSON_AddItemToArray(s, cJSON_CreateRaw(num));
    }
    if (mi->dataset[0]) cJSON_AddStringToObject(j, "dataset", mi->dataset);
    if (mi->n_names > 0) {
        cJSON *a = cJSON_AddArrayToObject(j, "class_names");
        for (int k = 0; k < mi->n_names; k++)
            cJSON_AddItemToArray(a, cJSON_CreateString(mi->names[k]));
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    SN_ASSERT(text);
    return text;
}

static int bad(char *msg, size_t n, const char *fmt, const char *what) {
    snprintf(msg, n, fmt, what);
    return -1;
}

static int short_string(const cJSON *v, size_t max) {
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= max) return 0;
    for (const char *p = v->valuestring; *p; p++)
        if ((unsigned char)*p < 0x20) return 0;
    return 1;
}

int sn_model_info_from_cjson(const void *obj, sn_shape input, int classes,
                             sn_model_info *mi, char *msg, size_t n) {
    const cJSON *j = obj;
    memset(mi, 0, sizeof *mi);
    if (!cJSON_IsObject(j))
        return bad(msg, n, "'data' must be an object%s", "");
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        const char *k = it->string ? it->string : "";
        if (strcmp(k, "layout") && strcmp(k, "pixel_scale") &&
            strcmp(k, "mean") && strcmp(k, "std") && strcmp(k, "dataset") &&
            strcmp(k, "class_names")) {
            snprintf(msg, n, "unknown field '%.40s' in 'data' (fields: "
                     "layout, pixel_scale, mean, std, dataset, class_names)",
                     k);
            return -1;
        }
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "layout");
    if (v && !(cJSON_IsString(v) && !strcmp(v->valuestring, "NCHW")))
        return bad(msg, n, "'data.layout' must be \"NCHW\"%s", "");
    v = cJSON_GetObjectItemCaseSensitive(j, "pixel_scale");
    if (v && !(cJSON_IsString(v) && !strcmp(v->valuestring, "1/255")))
        return bad(msg, n, "'data.pixel_scale' must be \"1/255\"%s", "");
    if (input.c > SN_INFO_MAX_C) {
        snprintf(msg, n, "'data' is given for %d input channels; at most %d "
                 "are supported", input.c, SN_INFO_MAX_C);
        return -1;
    }
    const char *keys[2] = {"mean", "std"};
    float *dst[2] = {mi->mean, mi->std};
    for (int t = 0; t < 2; t++) {
        v = cJSON_GetObjectItemCaseSensitive(j, keys[t]);
        if (!v) return bad(msg, n, "'data' lacks '%s'", keys[t]);
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != input.c) {
            snprintf(msg, n, "'data.%s' must be an array of %d numbers (one "
                     "per input channel)", keys[t], input.c);
            return -1;
        }
        int c = 0;
        cJSON_ArrayForEach(it, v) {
            double x = cJSON_IsNumber(it) ? it->valuedouble : NAN;
            if (!isfinite(x) || (t == 0 && fabs(x) > 1e6) ||
                (t == 1 && !(x > 0 && x < 1e6))) {
                snprintf(msg, n, "'data.%s' holds a bad value (mean: finite,"
                         " std: positive)", keys[t]);
                return -1;
            }
            dst[t][c++] = (float)x;
        }
    }
    mi->c = input.c;
    v = cJSON_GetObjectItemCaseSensitive(j, "dataset");
    if (v) {
        if (!short_string(v, SN_NAME_LEN))
            return bad(msg, n, "'data.dataset' must be a short string%s", "");
        snprintf(mi->dataset, sizeof mi->dataset, "%s", v->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "class_names");
    if (v) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != classes ||
            classes > SN_INFO_MAX_CLASSES) {
            snprintf(msg, n, "'data.class_names' must be an array of %d "
                     "strings (one per class, at most %d)", classes,
                     SN_INFO_MAX_CLASSES);
            return -1;
        }
        int k = 0;
        cJSON_ArrayForEach(it, v) {
            if (!short_string(it, SN_NAME_LEN)) {
                snprintf(msg, n, "'data.class_names' entry %d must be a "
                         "string shorter than %d bytes", k + 1, SN_NAME_LEN);
                return -1;
            }
            snprintf(mi->names[k++], SN_NAME_LEN, "%s", it->valuestring);
        }
        mi->n_names = classes;
    }
    mi->known = 1;
    return 0;
}
