parley_test(test_util SOURCES unit/test_util.c AREAS util LABELS unit)
