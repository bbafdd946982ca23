/*
 * npy.h: reading and writing numpy .npy files (format versions 1-3, little-endian,
 * C order) for the `ingot run` and `ingot bench` commands.
 */
#ifndef INGOT_CLI_NPY_H
#define INGOT_CLI_NPY_H

#include <stddef.h>

#include "ingot.h"

/* Load a .npy file into a new tensor. On error returns non-zero and writes err. */
int npy_load(const char *path, ingot_tensor **out, char *err, size_t errlen);
/* Write a tensor as .npy (version 1.0). */
int npy_save(const char *path, const ingot_tensor *t, char *err, size_t errlen);

#endif
