#include <stdio.h>
#include <time.h>
long bump(void);
/* Calls bump() 2e8 times, three times over, and prints ns per call for each pass. */
int main(){ struct timespec a,b; long s=0; for(int r=0;r<3;r++){ clock_gettime(CLOCK_MONOTONIC,&a); for(long i=0;i<200000000;i++) s+=bump(); clock_gettime(CLOCK_MONOTONIC,&b); printf("%.3f ns/call\n", ((b.tv_sec-a.tv_sec)*1e9+(b.tv_nsec-a.tv_nsec))/2e8);} return s==42; }
