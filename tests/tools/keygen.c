/*
 * keygen N TYPE: makes N key pairs of TYPE (rsa2048, p256, ...) and prints
 * the CPU seconds it took: the floor that enrollment cannot beat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "x509/keys.h"

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0, t = argc > 2 ? base_key_type_from_name(argv[2]) : -1;
	struct timespec a, b;

	if (n <= 0 || t < 0) {
		fprintf(stderr, "usage: keygen N TYPE\n");
		return 2;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	for (int i = 0; i < n; i++)
		EVP_PKEY_free(keys_generate(t));
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	printf("%.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
