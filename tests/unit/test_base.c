/*
 * lib/base: the grow helper doubles, reaches what is needed, and refuses
 * a size that does not fit in size_t without touching the array.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "t.h"

struct item {
	char name[40];
	long id;
};

TEST(base_grow_doubles_and_keeps)
{
	struct item *v = NULL;
	size_t cap = 0, n;

	for (n = 0; n < 100; n++) {
		CHECK(BASE_GROW(v, cap, n + 1) == 0, "grow to %zu failed", n + 1);
		CHECK(cap >= n + 1, "cap %zu after growing to %zu", cap, n + 1);
		v[n].id = (long)n;
	}
	CHECK(cap == 128, "cap %zu after 100 items one by one, want 16 doubled to 128", cap);
	for (n = 0; n < 100; n++)
		CHECK(v[n].id == (long)n, "item %zu is %ld after the reallocs", n, v[n].id);
	/* enough room: nothing changes */
	{
		struct item *was = v;

		CHECK(BASE_GROW(v, cap, 50) == 0 && v == was && cap == 128,
		      "growing to less than the capacity changed the array");
	}
	/* more than double: straight to what is needed */
	CHECK(BASE_GROW(v, cap, 1000) == 0 && cap == 1000, "cap %zu after asking 1000", cap);
	free(v);
}

TEST(base_grow_refuses_overflow)
{
	struct item *v = NULL;
	size_t cap = 0, big;

	/* need * elem does not fit */
	errno = 0;
	CHECK(BASE_GROW(v, cap, SIZE_MAX / sizeof(*v) + 1) == -1 && errno == ENOMEM,
	      "a need past SIZE_MAX / elem was not refused with ENOMEM");
	CHECK(v == NULL && cap == 0, "a refused grow changed the array (cap %zu)", cap);
	/* doubling a capacity past SIZE_MAX / elem: refused before any realloc
	 * (v stays NULL, so a realloc would have been asked for it all) */
	big = SIZE_MAX / sizeof(*v) / 2 + 1;
	cap = big;
	CHECK(BASE_GROW(v, cap, big + 1) == -1, "doubling %zu elements was not refused", big);
	CHECK(v == NULL && cap == big, "a refused doubling changed the array");
	/* a byte array at the very top */
	{
		unsigned char *b = NULL;
		size_t bcap = SIZE_MAX / 2 + 1;

		CHECK(BASE_GROW(b, bcap, bcap + 1) == -1 && b == NULL && bcap == SIZE_MAX / 2 + 1,
		      "a byte array past SIZE_MAX / 2 grew or changed");
	}
}

TEST(base_lineset_grows)
{
	struct lineset s = {0};

	CHECK(base_lineset_add(&s, 3) == 0 && base_lineset_add(&s, 1000000) == 0,
	      "base_lineset_add failed");
	CHECK(base_lineset_has(&s, 3) && base_lineset_has(&s, 1000000),
	      "added lines not in the set");
	CHECK(!base_lineset_has(&s, 4) && !base_lineset_has(&s, 999999) &&
		      !base_lineset_has(&s, 5000000),
	      "a line never added is in the set");
	base_lineset_free(&s);
}
