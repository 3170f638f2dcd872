/* fuzz_cifar.c — CIFAR-10 binary batches (cifar10:DIR). A folder of six
 * small valid batch files (two 3073-byte records each) is made once; each
 * input replaces one of them (the first byte mod 6 picks which; the rest
 * is the file) and sn_data_open loads the folder. */
#include "fuzz.h"

#include "slimnas/data.h"

static char fuzz_cifar_dir[256];
static const char *const fuzz_cifar_names[6] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
static uint8_t fuzz_cifar_valid[2 * 3073];

FUZZ_INIT(cifar) {
    fuzz_tmpdir(fuzz_cifar_dir, sizeof fuzz_cifar_dir, "cifar");
    for (int r = 0; r < 2; r++) {
        fuzz_cifar_valid[r * 3073] = (uint8_t)(r * 7 % 10);
        for (int i = 1; i < 3073; i++)
            fuzz_cifar_valid[r * 3073 + i] = (uint8_t)((i * 31 + r) & 255);
    }
    for (int k = 0; k < 6; k++)
        fuzz_put(fuzz_cifar_dir, fuzz_cifar_names[k], fuzz_cifar_valid,
                 sizeof fuzz_cifar_valid);
    return 0;
}

FUZZ_TARGET(cifar)(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int k = data[0] % 6;
    fuzz_put(fuzz_cifar_dir, fuzz_cifar_names[k], data + 1, size - 1);
    char spec[300];
    snprintf(spec, sizeof spec, "cifar10:%s", fuzz_cifar_dir);
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0.2;
    sn_error e;
    sn_data *d = sn_data_open(spec, &o, &e);
    sn_data_free(d);
    fuzz_put(fuzz_cifar_dir, fuzz_cifar_names[k], fuzz_cifar_valid,
             sizeof fuzz_cifar_valid);
    return 0;
}
