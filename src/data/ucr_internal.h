/* ucr_internal.h: shared by ucr.c and ucr_fix.c (not part of the public API). */
#ifndef AS_UCR_INTERNAL_H
#define AS_UCR_INTERNAL_H

/* z-normalises x[0..L) in place (population std, in double); a constant row becomes 0. */
void as_ucr_znorm_row(float *x, int L);

#endif
