/* The min/max kernel for float blocks with neither NaN nor infinity, built with
   -ffinite-math-only -fno-signed-zeros (src/core/CMakeLists.txt): under IEEE rules the
   compiler may not turn x < m ? x : m into a min instruction, so it does not vectorise. What
   the flags give up cannot happen here: the caller has checked that every element is finite,
   and -0.0 and 0.0 compare equal either way (the caller then looks for the first element
   equal to the result). Nothing else may live in this file. */
#include "extreme_kernel.h"

DEFINE_EXTREME_KERNEL(, shmlua_extreme_finite32, float, float, EXTREME_SAME)
DEFINE_EXTREME_KERNEL(, shmlua_extreme_finite64, double, double, EXTREME_SAME)
