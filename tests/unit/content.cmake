# Message content: every kind, unknown fields, refusals, limits, padding.
parley_test(test_content SOURCES unit/test_content.c AREAS content crypto util LABELS unit)
