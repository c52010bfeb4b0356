/*
 * Configuration file: every problem on its own line with its own text,
 * inline comments with ';' and '#', over-long lines.
 */
#include <string.h>

#include "t.h"

TEST(config_each_problem_on_its_line)
{
	struct pkiroll_config cfg;
	int err = pkiroll_config_load(t_ctx(),
				      t_writes("c.conf", "[pkiroll]\n"
							 "jobs = 4\n"
							 "this line is junk\n"
							 "key_type = dsa\n"
							 "[ca x]\n"
							 "url = http://127.0.0.1:1/\n"
							 "retries = lots\n"
							 "[ca y\n"),
				      &cfg);

	CHECK(err == PKIROLL_ERR_CONFIG, "load returned %d", err);
	CHECK(t_log_has("c.conf:3: expected \"key = value\" or \"[section]\""), "log: %s", t_log());
	CHECK(t_log_has("c.conf:4: [pkiroll] key_type: bad value \"dsa\""), "log: %s", t_log());
	CHECK(t_log_has("c.conf:7: [ca x] retries: bad value \"lots\""), "log: %s", t_log());
	CHECK(t_log_has("c.conf:8: section header without ']'"), "log: %s", t_log());
	CHECK(!t_log_has("c.conf:3: [ca x]"), "first line paired with the last text: %s", t_log());
}

TEST(config_inline_comments)
{
	struct pkiroll_config cfg;
	const struct pkiroll_ca_profile *p;
	int err = pkiroll_config_load(t_ctx(),
				      t_writes("c.conf",
					       "[pkiroll]\n"
					       "jobs = 4 # four workers\n"
					       "default_ca = x\t# tab before the comment\n"
					       "[ca x] # the test CA\n"
					       "url = http://ca.example/cmp#frag ; a fragment\n"
					       "retries = # empty: a bad value\n"),
				      &cfg);

	CHECK(err == PKIROLL_ERR_CONFIG, "load returned %d: %s", err, t_log());
	CHECK(t_log_has("c.conf:6: [ca x] retries: bad value \"\""), "log: %s", t_log());
	t_log_reset();
	err = pkiroll_config_load(t_ctx(),
				  t_writes("d.conf",
					   "[pkiroll]\n"
					   "jobs = 4 # four workers\n"
					   "default_ca = x\t# tab before the comment\n"
					   "[ca x] # the test CA\n"
					   "url = http://ca.example/cmp#frag ; a fragment\n"),
				  &cfg);
	CHECK(err == PKIROLL_OK, "load returned %d: %s", err, t_log());
	CHECK(cfg.jobs == 4, "jobs %d", cfg.jobs);
	p = pkiroll_config_profile(&cfg, NULL);
	CHECK(p != NULL && strcmp(p->name, "x") == 0, "default profile");
	CHECK(strcmp(p->url, "http://ca.example/cmp#frag") == 0, "url \"%s\"", p->url);
}

TEST(config_long_line)
{
	struct pkiroll_config cfg;
	char text[600];
	int n = snprintf(text, sizeof(text), "[pkiroll]\ndb = /");
	int err;

	memset(text + n, 'a', 300);
	snprintf(text + n + 300, sizeof(text) - (size_t)n - 300, "\njobs = x\n");
	err = pkiroll_config_load(t_ctx(), t_writes("c.conf", text), &cfg);
	CHECK(err == PKIROLL_ERR_CONFIG, "load returned %d", err);
	CHECK(t_log_has("c.conf:2: line longer than"), "log: %s", t_log());
	CHECK(t_log_has("c.conf:3: [pkiroll] jobs: bad value \"x\""), "log: %s", t_log());
	CHECK(!t_log_has("c.conf:2: expected"), "the rest of the long line parsed: %s", t_log());
}
