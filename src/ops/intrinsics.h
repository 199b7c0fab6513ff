// <immintrin.h> for the ops/ sources that use AVX-512 intrinsics (internal
// to ops/; include it from .cc files only).
//
// GCC 12's AVX-512 headers pass _mm512_undefined_*() placeholders that
// -Wuninitialized reports spuriously where the intrinsics are inlined, so
// this turns those warnings off for the rest of the including source file.
#pragma once

#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // a GCC-only warning (Clang builds the fuzzers)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
