/* simd_target.h: compile the functions between a BEGIN and AS_TARGET_END for one x86
 * instruction set, leaving the rest of the project at baseline x86-64. gcc takes `#pragma
 * GCC target`; clang ignores it, so there every function gets the target attribute. */
#ifndef AS_LAYERS_SIMD_TARGET_H
#define AS_LAYERS_SIMD_TARGET_H

#ifdef __clang__
#define AS_TARGET_AVX2_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define AS_TARGET_AVX512_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f\"))), apply_to = function)")
#define AS_TARGET_END _Pragma("clang attribute pop")
#else
#define AS_TARGET_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define AS_TARGET_AVX512_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f\")")
#define AS_TARGET_END _Pragma("GCC pop_options")
#endif

#endif
